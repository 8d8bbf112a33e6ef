"""A minimal Foxglove WebSocket protocol client (v1: advertise, subscribe, binary message data),
enough to check what the live view serves; decodes protobuf messages with the schema the server
advertises. For tests and for ``dexndm``'s own checks, not a viewer."""
from __future__ import annotations

import base64
import json
import struct
import time

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from websockets.sync.client import connect

SUBPROTOCOLS = ["foxglove.sdk.v1", "foxglove.websocket.v1"]
MESSAGE_DATA = 0x01


class FoxgloveClient:
    def __init__(self, url: str, timeout: float = 10.0):
        self._connection = connect(url, subprotocols=SUBPROTOCOLS, open_timeout=timeout, max_size=None)
        self.ws = self._connection.__enter__()
        self.channels: dict[int, dict] = {}
        self.subscriptions: dict[int, int] = {}      # subscription id -> channel id
        self._classes: dict[int, type] = {}

    def close(self) -> None:
        self._connection.__exit__(None, None, None)

    def _handle_text(self, text: str) -> None:
        msg = json.loads(text)
        if msg.get("op") == "advertise":
            for ch in msg["channels"]:
                self.channels[ch["id"]] = ch

    def wait_for_topics(self, topics, timeout: float = 10.0) -> dict[str, dict]:
        """The advertised channels of ``topics`` (waits until all are advertised)."""
        end = time.monotonic() + timeout
        while not set(topics) <= {c["topic"] for c in self.channels.values()}:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"not advertised within {timeout} s: "
                                   f"{sorted(set(topics) - {c['topic'] for c in self.channels.values()})}")
            frame = self.ws.recv(timeout=left)
            if isinstance(frame, str):
                self._handle_text(frame)
        return {c["topic"]: c for c in self.channels.values() if c["topic"] in topics}

    def subscribe(self, topics) -> None:
        subs = []
        for ch in self.wait_for_topics(topics).values():
            sub_id = len(self.subscriptions) + 1
            self.subscriptions[sub_id] = ch["id"]
            subs.append({"id": sub_id, "channelId": ch["id"]})
        self.ws.send(json.dumps({"op": "subscribe", "subscriptions": subs}))

    def _decode(self, channel_id: int, payload: bytes):
        ch = self.channels[channel_id]
        if ch["encoding"] == "json":
            return json.loads(payload)
        if ch["encoding"] != "protobuf":
            return payload
        if channel_id not in self._classes:
            fds = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(ch["schema"]))
            pool = descriptor_pool.DescriptorPool()
            for f in fds.file:
                pool.Add(f)
            self._classes[channel_id] = message_factory.GetMessageClass(pool.FindMessageTypeByName(ch["schemaName"]))
        return self._classes[channel_id].FromString(payload)

    def next_message(self, timeout: float = 10.0) -> tuple[str, object]:
        """(topic, decoded message) of the next message on a subscribed channel."""
        end = time.monotonic() + timeout
        while True:
            frame = self.ws.recv(timeout=max(0.0, end - time.monotonic()))
            if isinstance(frame, str):
                self._handle_text(frame)
                continue
            if frame[0] != MESSAGE_DATA:
                continue
            sub_id, _ = struct.unpack_from("<IQ", frame, 1)
            channel = self.subscriptions.get(sub_id)
            if channel is not None:
                return self.channels[channel]["topic"], self._decode(channel, frame[13:])
