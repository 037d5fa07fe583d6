"""moto's server, handling one request at a time, with transactions that snapshot only
the items they touch.

moto applies a TransactWriteItems item by item and restores a snapshot when a condition
fails, without a lock: two transactions racing in its threaded server can interleave and
leave half of one behind, which real DynamoDB never does. The store's tests race
transactions on purpose, so requests are serialized here; connections stay threaded.

moto's snapshot is a deep copy of the whole table for every item of the transaction:
600 ms for a 4-item transaction on a 3,000-item table, under the lock that every other
request waits on, so the suites slowed down as their tables grew and SDK attempts timed
out. Here a transaction copies the items it names, and a rollback puts back just those.
"""

import copy
import threading
import types

from moto import server
from moto.dynamodb import models as dynamodb_models

_lock = threading.Lock()
_dispatch = server.DomainDispatcherApplication.__call__


def _serialized(self, environ, start_response):
    with _lock:
        return _dispatch(self, environ, start_response)


server.DomainDispatcherApplication.__call__ = _serialized

_Table = dynamodb_models.Table
_transact = dynamodb_models.DynamoDBBackend.transact_write_items


_whole_tables = threading.local()


def _deepcopy_but_tables(value, memo=None):
    """What moto's module copies with: a table "copy" is the table itself (its rollback
    assigns it back, a no-op), since only the touched items are restored; a transaction
    whose items could not be read first gets moto's own snapshot."""
    if isinstance(value, _Table) and not getattr(_whole_tables, "on", False):
        return value
    return copy.deepcopy(value, memo)


dynamodb_models.copy = types.SimpleNamespace(deepcopy=_deepcopy_but_tables, copy=copy.copy)


def _touched_items(backend, transact_items):
    """Each (table, key, item as it was) the transaction names; None when a request is
    malformed, which moto then refuses before it writes anything."""
    touched = []
    try:
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = backend.get_table(op["TableName"])
            if "Item" in op:
                names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
                key = {name: op["Item"][name] for name in names}
            else:
                key = op["Key"]
            before = backend.get_item(op["TableName"], key)
            touched.append((table, key, copy.deepcopy(before)))
    except Exception:  # noqa: BLE001 moto's own checks answer malformed requests
        return None
    return touched


def _restore(backend, touched):
    for table, key, before in reversed(touched):
        hash_value, range_value = backend.get_keys_value(table, key)
        if before is None:
            if table.get_item(hash_value, range_value) is not None:
                table.delete_item(hash_value, range_value)
        else:
            table.put_item(before.to_json()["Attributes"])


def _transact_write_items(self, transact_items):
    touched = _touched_items(self, transact_items)
    _whole_tables.on = touched is None
    try:
        return _transact(self, transact_items)
    except Exception:
        if touched is not None:
            _restore(self, touched)
        raise
    finally:
        _whole_tables.on = False


dynamodb_models.DynamoDBBackend.transact_write_items = _transact_write_items

if __name__ == "__main__":
    server.main()
