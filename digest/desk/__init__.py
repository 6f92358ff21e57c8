"""The editor's desk: `digest preview` as a page where the week's issue is made.

`server.py` serves one issue folder on loopback (views, controls, findings), `guard.py` decides
who may use it (Host, Origin, this run's token), `page.py` renders the page (plain forms;
`desk.js` only makes them quicker), `actions.py` turns a button into an operation of
`digest.edits`, applied by `digest.pipeline.desk` exactly as `digest edit` applies it.
"""
