"""moto's server, handling one request at a time.

moto applies a TransactWriteItems item by item and restores a snapshot when a condition
fails, without a lock: two transactions racing in its threaded server can interleave and
leave half of one behind, which real DynamoDB never does. The store's tests race
transactions on purpose, so requests are serialized here; connections stay threaded.
"""

import threading

from moto import server

_lock = threading.Lock()
_dispatch = server.DomainDispatcherApplication.__call__


def _serialized(self, environ, start_response):
    with _lock:
        return _dispatch(self, environ, start_response)


server.DomainDispatcherApplication.__call__ = _serialized

if __name__ == "__main__":
    server.main()
