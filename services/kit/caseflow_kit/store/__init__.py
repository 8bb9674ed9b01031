"""The store port and its adapters."""

from .port import (
    Collection,
    ConflictError,
    Delete,
    Doc,
    DuplicateKeyError,
    Insert,
    OutboxMessage,
    OutboxRecord,
    Put,
    Query,
    Replace,
    Store,
    StoreError,
    StoreUnavailableError,
    Write,
)

__all__ = [
    "Collection",
    "ConflictError",
    "Delete",
    "Doc",
    "DuplicateKeyError",
    "Insert",
    "OutboxMessage",
    "OutboxRecord",
    "Put",
    "Query",
    "Replace",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "Write",
]
