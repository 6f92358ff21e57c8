"""Bounces, complaints and mailto unsubscribes: read (`mail`, `services`), then applied (`apply`).

Reading is pure: a message or an event file becomes `Finding`s. Applying records events in the
store: hard bounces and complaints suppress at once, soft bounces after a run of them.
"""
