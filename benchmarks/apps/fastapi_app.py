"""FastAPI with a path parameter and a Pydantic model serialised as JSON: the typical API.

`GET /items/{item_id}` validates the path parameter as an int and answers a small model. `GET /`
answers the readiness probe's "Hello, world!" (benchmarks/procs.py) as plain text.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

PATH = "/items/42"  # what the harness requests


class Item(BaseModel):
    """The JSON document every request gets back."""

    item_id: int
    name: str
    tags: list[str]
    price: float


app = FastAPI()


@app.get("/", response_class=PlainTextResponse)
async def hello() -> str:
    """The readiness probe's answer."""
    return "Hello, world!"


@app.get("/items/{item_id}")
async def read_item(item_id: int) -> Item:
    """A model built from the path parameter, serialised by FastAPI."""
    return Item(item_id=item_id, name="widget", tags=["a", "b"], price=9.5)
