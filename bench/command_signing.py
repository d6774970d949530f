"""Cost of signed commands, beside the raw limit of the same primitives.

CPython: the cloud's CommandSigner.sign (canonical bytes, node MAC, Ed25519,
validation) and the gateway's CommandAuth.verify against a bare Ed25519
sign/verify loop of the same library (cryptography) over a message of the same
size; the node's MAC check (canonical bytes, HMAC, compare) against the two
bare SHA-256 passes any HMAC needs, and the pure-Python HMAC the boards run
(edge.signing.hmac_sha256, its key pads made once per key) beside hmac.new.

MicroPython (the WebAssembly runtime of the tests, under Node): the node's
check of one command's MAC (node_mac_bytes + HMAC + compare) against the two
bare hashlib.sha256 passes an HMAC needs, in the same run. A board's figures
differ (an ESP32 is slower than wasm on a PC); the ratio is what carries over.
CPython rates are per CPU second of the process (time.process_time), which a
loaded machine does not shrink.

    PYTHONPATH=. .venv/bin/python bench/command_signing.py [--seconds 1.0] [--no-micropython]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from furrow.cloud.commands.signing import CommandSigner
from furrow.edge import commands, signing
from furrow.gateway.command_auth import CommandAuth

T0 = 1_767_225_600_000
NODE_KEY = bytes(range(32))


def rate(fn, seconds: float) -> float:
    """Calls per CPU second of this process, over about `seconds` of CPU: on a shared machine
    CPU time, unlike the wall clock, does not shrink with the other processes' load."""
    n = 0
    start = time.process_time()
    end = start + seconds
    while time.process_time() < end:
        for _ in range(20):
            fn()
        n += 20
    return n / (time.process_time() - start)


MP_BENCH = r"""
import time, hashlib
from furrow.edge import signing, commands
key = bytes(range(32))
cmd = commands.make_command("c-0123456789abcdef01234567", "irr-01", 1, "open", 600, 900, %(t0)d, %(t0)d + 3600000)
cmd["nmac"] = signing.node_mac(key, cmd)
N = %(n)d
# at least N calls and at least 100 ms: the WebAssembly port's ticks advance by whole
# milliseconds, so a few fast calls timed alone measured 0 us
def per_call_us(fn):
    i, t = 0, time.ticks_ms()
    while i < N or time.ticks_diff(time.ticks_ms(), t) < 100:
        fn()
        i += 1
    return time.ticks_diff(time.ticks_ms(), t) * 1000 / i
def check():
    assert signing.check_node_mac(key, cmd) is None
msg = signing.node_mac_bytes(cmd)
pad = bytes(64)
def two_passes():
    h = hashlib.sha256(pad)
    h.update(msg)
    hashlib.sha256(pad).update(h.digest())
ours = per_call_us(check)
raw = per_call_us(two_passes)
print("MP", ours, raw, len(msg))
"""


def micropython_figures(n: int) -> tuple[float, float, int] | None:
    from tests.mplib import board_lib
    from tests.servers import MicroPythonRuntime

    with tempfile.TemporaryDirectory() as d:
        lib = board_lib(Path(d) / "lib", firmware=False)
        result = MicroPythonRuntime().run(MP_BENCH % {"t0": T0, "n": n}, lib_dir=lib, timeout=300)
    line = [x for x in result.stdout.splitlines() if x.startswith("MP ")]
    if result.returncode != 0 or not line:
        print("MicroPython run failed:", result.stderr[-500:])
        return None
    _, ours, raw, size = line[0].split()
    return float(ours), float(raw), int(size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    ap.add_argument("--no-micropython", action="store_true", help="skip the MicroPython figures")
    ap.add_argument("--mp-iterations", type=int, default=2000)
    args = ap.parse_args()
    s = args.seconds

    private = Ed25519PrivateKey.generate()
    signer = CommandSigner.create({"k1": private}, node_keys={"irr-01": NODE_KEY})
    auth = CommandAuth({"k1": private.public_key()}, "farm", "gw-1", None)
    cmd = commands.make_command("c-0123456789abcdef01234567", "irr-01", 1, "open", 600, 900, T0, T0 + 3_600_000)
    signed = signer.sign(cmd, "farm", "gw-1", T0)
    msg = signing.signed_bytes(signed)
    sig = bytes.fromhex(signed["sig"])
    public = private.public_key()
    auth.verify(signed)  # it verifies, or the figures mean nothing

    def verify_received() -> None:
        auth.verify(commands.decode_command(raw))

    raw = commands.encode(signed)
    pad = bytes(64)

    def two_passes(m: bytes) -> bytes:
        # the bare work of an HMAC with its pads ready: the floor for any HMAC
        inner = hashlib.sha256(pad)
        inner.update(m)
        outer = hashlib.sha256(pad)
        outer.update(inner.digest())
        return outer.digest()

    mac_msg = signing.node_mac_bytes(signed)
    rows = [
        ("cloud: sign a command", rate(lambda: signer.sign(cmd, "farm", "gw-1", T0), s),
         "Ed25519 sign", rate(lambda: private.sign(msg), s)),
        ("gateway: verify", rate(lambda: auth.verify(signed), s),
         "Ed25519 verify", raw_verify := rate(lambda: public.verify(sig, msg), s)),
        ("gateway: decode+verify", rate(verify_received, s), "Ed25519 verify", raw_verify),
        ("node: check MAC", rate(lambda: signing.check_node_mac(NODE_KEY, signed), s),
         "2 sha256 passes", rate(lambda: two_passes(mac_msg), s)),
        ("HMAC, pure Python", rate(lambda: signing.hmac_sha256(NODE_KEY, mac_msg), s),
         "hmac.new (C)", rate(lambda: hmac.new(NODE_KEY, mac_msg, hashlib.sha256).digest(), s)),
    ]
    print(f"signed bytes {len(msg)} B, node MAC bytes {len(mac_msg)} B, command JSON {len(raw)} B")
    print(f"{'operation':<24} {'Furrow /s':>12} {'raw limit':<16} {'raw /s':>12} {'share':>6}")
    figures: dict[str, object] = {}
    for name, ours, raw_name, raw_rate in rows:
        print(f"{name:<24} {ours:>12,.0f} {raw_name:<16} {raw_rate:>12,.0f} {ours / raw_rate:>6.0%}")
        figures[name] = {"furrow_s": round(ours), "raw": raw_name, "raw_s": round(raw_rate),
                         "share": round(ours / raw_rate, 3)}
    if not args.no_micropython:
        mp = micropython_figures(args.mp_iterations)
        if mp is not None:
            ours, raw_us, size = mp
            print(f"MicroPython (wasm): node checks one command's MAC in {ours:,.0f} us; "
                  f"two bare sha256 passes over the same {size} B: {raw_us:,.0f} us ({raw_us / ours:.0%})")
            figures["micropython: check MAC"] = {"furrow_us": round(ours), "raw": "2 sha256 passes",
                                                 "raw_us": round(raw_us), "share": round(raw_us / ours, 3)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
