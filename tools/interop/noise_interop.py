#!/usr/bin/env python3
"""Interoperability check: a stock Noise library (noiseprotocol, pip) as the initiator.

Connects to a Sotto server, completes Noise_XX_25519_ChaChaPoly_SHA256 with prologue
"sotto/1", logs in (scrypt from Python's hashlib), sends one chat message and decrypts
every frame the server sends until its own message comes back acknowledged. Prints one
JSON line per server record and a final line "OK <server fingerprint>"; exits non-zero
on any failure.

    noise_interop.py --port 8888 --password-file pw --user pybot [--expect-fingerprint SHA256:...]
"""
import argparse, base64, hashlib, hmac, json, os, socket, struct, sys

from noise.connection import Keypair, NoiseConnection

RECORD_NAMES = {0x81: "welcome", 0x82: "error", 0x83: "users", 0x84: "presence", 0x85: "message", 0x86: "ack", 0x87: "pong", 0x8b: "caught-up"}


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("server closed the connection")
        data += chunk
    return data


def read_frame(sock):
    (length,) = struct.unpack(">H", read_exact(sock, 2))
    return read_exact(sock, length)


def write_frame(sock, message):
    sock.sendall(struct.pack(">H", len(message)) + message)


def u16_bytes(data):
    return struct.pack(">H", len(data)) + data


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def u64(self):
        return struct.unpack(">Q", self.take(8))[0]

    def bytes16(self):
        return self.take(self.u16())


def split_records(plaintext):
    records, pos = [], 0
    while pos < len(plaintext):
        (length,) = struct.unpack(">H", plaintext[pos:pos + 2])
        records.append(plaintext[pos + 2:pos + 2 + length])
        pos += 2 + length
    if pos != len(plaintext):
        raise ValueError("partial record")
    return records


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--user", default="pybot")
    parser.add_argument("--expect-fingerprint")
    args = parser.parse_args()
    password = open(args.password_file, encoding="utf-8").read().splitlines()[0].encode()

    noise = NoiseConnection.from_name(b"Noise_XX_25519_ChaChaPoly_SHA256")
    noise.set_as_initiator()
    noise.set_keypair_from_private_bytes(Keypair.STATIC, os.urandom(32))
    noise.set_prologue(b"sotto/1")
    noise.start_handshake()

    sock = socket.create_connection((args.host, args.port), timeout=10)
    write_frame(sock, noise.write_message(b""))
    hello = Reader(noise.read_message(read_frame(sock)))
    server_static = noise.noise_protocol.handshake_state.rs.public_bytes
    fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(server_static).digest()).decode().rstrip("=")
    if args.expect_fingerprint and fingerprint != args.expect_fingerprint:
        print(f"FAIL server fingerprint {fingerprint} != {args.expect_fingerprint}")
        return 1
    version = hello.u8()
    server_name = hello.bytes16().decode()
    hello.u32()
    salt = hello.bytes16()
    log2n, r, p = hello.u8(), hello.u8(), hello.u8()
    key = hashlib.scrypt(password, salt=salt, n=1 << log2n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)
    # Schema 3: prove the key over this handshake (its hash after message 2), never send it.
    transcript = noise.noise_protocol.handshake_state.symmetric_state.h
    proof = hmac.new(key, b"sotto/3 login proof" + transcript, hashlib.sha256).digest()
    session_nonce = os.urandom(16)
    login = bytes([version]) + u16_bytes(args.user.encode()) + u16_bytes(proof) + u16_bytes(b"") + u16_bytes(session_nonce) + u16_bytes(b"")  # no identity, no prekey
    write_frame(sock, noise.write_message(login))
    if not noise.handshake_finished:
        print("FAIL handshake not finished after message 3")
        return 1

    message_id = (0x01020304 << 32) | 1
    text = b"hello from a stock Noise library"
    sent = False
    while True:
        plaintext = noise.decrypt(read_frame(sock))
        for record in split_records(plaintext):
            kind = record[0]
            name = RECORD_NAMES.get(kind, hex(kind))
            body = Reader(record[1:])
            line = {"type": name}
            if name == "welcome":
                line["name"] = body.bytes16().decode()
            elif name == "error":
                line["code"] = body.u16()
                line["text"] = body.bytes16().decode()
            elif name == "message":
                line["sequence"], _time = body.u64(), body.u64()
                line["from"] = body.bytes16().decode()
                body.bytes16()
                body.u64()
                line["text"] = body.bytes16().decode()
            elif name == "ack":
                line["id"] = body.u64()
            print(json.dumps(line), flush=True)
            if name == "error":
                return 1
            if name == "ack" and line["id"] == message_id:
                print(f"OK {fingerprint} ({server_name})")
                return 0
        if not sent:
            send = bytes([0x01]) + struct.pack(">Q", message_id) + u16_bytes(b"") + u16_bytes(text)
            write_frame(sock, noise.encrypt(u16_bytes(send)))
            sent = True


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # one clear line, not a traceback, for the test log
        print(f"FAIL {type(error).__name__}: {error}")
        sys.exit(1)
