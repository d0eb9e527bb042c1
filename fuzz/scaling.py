#!/usr/bin/env python3
"""Times each fuzz target on inputs of growing size, to catch work more than linear in
the attacker's bytes. Run after `cargo +nightly fuzz build` (any profile), from `fuzz/`:

    python3 scaling.py [target ...]

For every target it writes inputs of 64 KiB, 256 KiB and 1 MiB of the shape that
stresses it (many directives, many cookies, many keys, long paths, long arrays) under
/tmp/portcullis-scaling/, runs the target binary once on each, and prints the
milliseconds libFuzzer reports. Linear work grows about 4x per step; the script flags a
step over 8x. The router's table is fixed and only the request path grows: the routing
table is configuration, the path is what a client controls.
"""

import glob
import os
import re
import subprocess
import sys

ED25519 = '{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k%d"}'


def jwks(n):
    keys, size = [], 12
    while size < n:
        keys.append(ED25519 % len(keys))
        size += len(keys[-1]) + 1
    return '{"keys":[' + ",".join(keys) + "]}"


def token_extraction(n):
    k = n // 16
    return ("authorization cookie:at query:access_token\n/?" + "a=1&" * k +
            "access_token=" + "%41" * k + "\ncookie: " + "x=1; " * k + "\nauthorization: Basic " + "A" * k)


def introspection(n):
    k = n // 4
    return '{"active":true,"sub":"' + "a" * k + '","x":[' + "1," * k + "1]}"


def freshness(n):
    return "60 3600 300\ncache-control: " + "max-age=1, " * (n // 12) + "\nexpires: 0"


def discovery(n):
    return ('https://as.example\n{"issuer":"https://as.example","id_token_signing_alg_values_supported":['
            + '"RS256",' * (n // 8) + '"x"]}')


def router(n):
    routes = "\n".join(["exact /admin", "prefix /admin/", "pattern /u/{id}/edit", "prefix /"])
    return "GET /" + "%61dmin/" * (n // 8) + "\n" + routes


TARGETS = {f.__name__: f for f in [jwks, token_extraction, introspection, freshness, discovery, router]}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    wanted = sys.argv[1:] or list(TARGETS)
    out = "/tmp/portcullis-scaling"
    os.makedirs(out, exist_ok=True)
    bad = False
    for name in wanted:
        binary = sorted(glob.glob(f"{here}/target/*/release/{name}"), key=os.path.getmtime)[-1]
        times = []
        for size in [64 << 10, 256 << 10, 1 << 20]:
            path = f"{out}/{name}-{size}"
            with open(path, "w") as f:
                f.write(TARGETS[name](size))
            run = subprocess.run([binary, f"-max_len={2 << 20}", "-rss_limit_mb=2048", "-timeout=10", path],
                                 capture_output=True, text=True)
            found = re.search(r"Executed .* in (\d+) ms", run.stderr)
            if run.returncode != 0 or not found:
                print(f"{name}: {size} bytes: exit {run.returncode}\n{run.stderr[-2000:]}")
                bad = True
                break
            times.append(int(found.group(1)))
        steps = [b / max(a, 1) for a, b in zip(times, times[1:])]
        flag = " MORE THAN LINEAR?" if any(s > 8 and b > 20 for s, b in zip(steps, times[1:])) else ""
        print(f"{name}: 64 KiB {times[0] if times else '-'} ms, 256 KiB {times[1] if len(times) > 1 else '-'} ms, "
              f"1 MiB {times[2] if len(times) > 2 else '-'} ms{flag}")
        bad |= bool(flag)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
