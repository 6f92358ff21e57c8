"""Whom the greeting names: a first name when the list has one, "Last, First" understood.

Pure: a function of the subscriber's row. `deliver.merge_values` turns it into "Bonjour Jérôme,"
or, when no name is known, into "Bonjour,".
"""

from __future__ import annotations

from digest.models import Subscriber

FIRST_NAME_COLUMNS = ("first_name", "firstname", "given_name", "prenom", "prénom")


def greeting_name(subscriber: Subscriber) -> str:
    """The name to greet: the first-name column, else the name with "Last, First" turned round."""
    fields = {key.strip().casefold(): value for key, value in subscriber.fields.items()}
    for column in FIRST_NAME_COLUMNS:
        if fields.get(column, "").strip():
            return " ".join(fields[column].split())
    name = " ".join(subscriber.name.split())
    if name.count(",") == 1:
        last, first = (part.strip() for part in name.split(","))
        return first or last
    return name
