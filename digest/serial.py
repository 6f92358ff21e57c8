"""The JSON form of the data model, shared by the store and issue.json: one serialiser."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from digest.models import Image, Post


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def post_to_dict(post: Post) -> dict[str, Any]:
    """A post as JSON-ready data; shallow copies, not `asdict`'s deep ones: gather stores thousands."""
    data = dict(vars(post))
    data["published"] = iso(post.published)
    data["categories"] = list(post.categories)
    data["image"] = dict(vars(post.image)) if post.image else None
    return data


def post_from_dict(data: dict[str, Any]) -> Post:
    image = data.get("image")
    return Post(
        **{
            **data,
            "published": datetime.fromisoformat(data["published"]).astimezone(UTC),
            "categories": tuple(data.get("categories", ())),
            "image": Image(**image) if image else None,
        }
    )
