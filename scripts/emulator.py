"""Runs the local AWS-compatible emulator (moto server) on loopback for Kairos's tests.

Prints the endpoint URL on its first line, then serves until its standard input closes: the
process that started it holds the other end, so the emulator never outlives its test run, even
when that run is killed. Started from a terminal, it serves until Ctrl-C.

    .venv/bin/python scripts/emulator.py [PORT]     # PORT 0 or absent: any free port

Two adjustments make moto's DynamoDB faithful under the load Kairos puts on it (both keep
DynamoDB's documented semantics; the store contract suite checks them):

* moto's DynamoDB backend is not safe under concurrent requests (a scan iterating a table while
  a put grows it raises "dictionary changed size during iteration"); DynamoDB is. DynamoDB
  requests are served one at a time.
* moto backs up the whole table (a deep copy, once per item) before every TransactWriteItems, so
  a transaction costs time in proportion to the table. DynamoDB evaluates every condition against
  the state before the transaction, then applies all writes or none; that is done here directly,
  copying only the items the transaction touches.

Messages sent through SES v2 and SNS are also written, one JSON object a line, to
`kairos-emulator-<PORT>-sent.jsonl` in the temporary directory: moto keeps them only in memory,
and the delivery tests read what arrived (the raw MIME with its headers, the SMS with its
attributes) from there.

A third only makes it fast enough to measure a request's latency on: moto answers every Query on
the table itself by sorting the whole table and keeping the queried partition; here it sorts
only that partition (the same items in the same order).
"""

import copy
import logging
import socket
import sys
import threading

from moto.server import ThreadedMotoServer


def serialise_dynamodb_requests() -> None:
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    original = DynamoHandler.dispatch.__func__

    def dispatch(cls, *args, **kwargs):
        with lock:
            return original(cls, *args, **kwargs)

    DynamoHandler.dispatch = classmethod(dispatch)


def transactions_without_table_copies() -> None:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend

    def transact_write_items(self, transact_items):
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        seen, planned, errors = set(), [], []
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(entry.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            table = self.get_table(table_name)
            if op_type == "Put":
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            identity = (table_name, str(sorted(key.items())))
            if identity in seen:
                raise MultipleTransactionsException()
            seen.add(identity)
            current = self.get_item(table_name, key)
            condition = op.get("ConditionExpression")
            holds = condition is None or get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            ).expr(current)
            if holds:
                errors.append((None, None, None))
            else:
                old = None
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
            planned.append((op_type, op, table_name, key, copy.deepcopy(current)))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        applied = []
        try:
            for op_type, op, table_name, key, before in planned:
                if op_type == "Put":
                    self.put_item(table_name, op["Item"])
                elif op_type == "Delete":
                    self.delete_item(table_name, key)
                elif op_type == "Update":
                    self.update_item(
                        table_name,
                        key,
                        update_expression=op["UpdateExpression"],
                        expression_attribute_names=op.get("ExpressionAttributeNames"),
                        expression_attribute_values=op.get("ExpressionAttributeValues"),
                    )
                applied.append((table_name, key, before))
        except Exception:
            # All or nothing: put back what this transaction changed.
            for table_name, key, before in reversed(applied):
                if before is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, before.to_json()["Attributes"])
            raise

    DynamoDBBackend.transact_write_items = transact_write_items


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def queries_read_one_partition() -> None:
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    original_all_items = Table.all_items

    def all_items(self):
        partition = getattr(self, "_kairos_partition", None)
        if partition is None:
            return original_all_items(self)
        found = self.items.get(partition[0])  # .get: a defaultdict grows on [ ]
        if found is None:
            return []
        items = list(found.values()) if self.range_key_attr else [found]
        return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)

    def query(self, hash_key, *args, **kwargs):
        # The eighth positional argument is the index: an index query keeps moto's own path.
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None:
            return original_query(self, hash_key, *args, **kwargs)
        self._kairos_partition = (hash_key,)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            self._kairos_partition = None

    Table.all_items = all_items
    Table.query = query


def record_sent_messages(port: int) -> None:
    import json
    import os
    import tempfile

    from moto.sesv2.models import SESV2Backend
    from moto.sns.models import SNSBackend

    path = os.path.join(tempfile.gettempdir(), f"kairos-emulator-{port}-sent.jsonl")
    open(path, "w").close()
    lock = threading.Lock()

    def write(record: dict) -> None:
        with lock, open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    send_raw_email = SESV2Backend.send_raw_email

    def recorded_raw_email(self, source, destinations, raw_data):
        message = send_raw_email(self, source, destinations, raw_data)
        write({"service": "ses", "id": message.id, "source": source, "destinations": destinations, "raw": raw_data})
        return message

    publish = SNSBackend.publish

    def recorded_publish(self, message, arn, phone_number=None, *args, **kwargs):
        message_id = publish(self, message, arn, phone_number, *args, **kwargs)
        attributes = kwargs.get("message_attributes") or {}
        write({"service": "sns", "id": message_id, "phone_number": phone_number, "target": arn,
               "message": message, "attributes": {k: v.get("Value") if isinstance(v, dict) else str(v)
                                                  for k, v in attributes.items()}})
        return message_id

    SESV2Backend.send_raw_email = recorded_raw_email
    SNSBackend.publish = recorded_publish


def main() -> None:
    # One line per request drowns the test output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    serialise_dynamodb_requests()
    transactions_without_table_copies()
    queries_read_one_partition()
    port = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != "0" else free_port()
    record_sent_messages(port)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print(f"http://127.0.0.1:{port}", flush=True)
    try:
        if sys.stdin.isatty():
            threading.Event().wait()
        else:
            sys.stdin.read()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
