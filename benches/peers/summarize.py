#!/usr/bin/env python3
"""Medians from one criterion run of benches/peers, as markdown tables with ratios."""
import json, os, sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
ALGS = ["RS256", "PS256", "ES256", "ES384", "EdDSA"]
COLS = [
    ("raw_aws_lc_rs", "raw aws-lc-rs"),
    ("portcullis_jwt_verify", "portcullis-jwt verify"),
    ("jsonwebtoken_decode", "jsonwebtoken decode"),
    ("portcullis_layer", "portcullis layer (full)"),
    ("portcullis_layer_cache_hit", "portcullis layer (cache hit)"),
    ("jwt_authorizer_layer", "jwt-authorizer layer"),
    ("tower_oauth2_rs_layer", "tower-oauth2-resource-server layer"),
]


def median_us(group, bench):
    path = os.path.join(root, group, bench, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"] / 1000.0
    except FileNotFoundError:
        return None


def fmt(v, digits=2):
    return "n/a" if v is None else f"{v:.{digits}f}"


def ratio(a, b):
    return None if a is None or b is None else a / b


base08 = median_us("baseline", "axum08_no_auth")
base07 = median_us("baseline", "axum07_no_auth")
print("Median µs per operation (one criterion run)\n")
print(f"No-auth router baseline: axum 0.8 {fmt(base08, 3)} µs, axum 0.7 {fmt(base07, 3)} µs\n")
print("| alg | " + " | ".join(name for _, name in COLS) + " |")
print("|---|" + "---:|" * len(COLS))
rows = {}
for alg in ALGS:
    rows[alg] = {key: median_us(alg, key) for key, _ in COLS}
    print(f"| {alg} | " + " | ".join(fmt(rows[alg][key]) for key, _ in COLS) + " |")

print("\nRatios (same run)\n")
print("| alg | layer full / raw | jwt verify / raw | cache hit − axum 0.8 baseline (µs) | "
      "fastest peer request / cache hit | jwt-authorizer / layer full | "
      "tower-oauth2-rs / layer full | jsonwebtoken / portcullis-jwt |")
print("|---|" + "---:|" * 7)
for alg in ALGS:
    r = rows[alg]
    peers = [v for v in (r["jwt_authorizer_layer"], r["tower_oauth2_rs_layer"]) if v is not None]
    fastest_peer = min(peers) if peers else None
    over = None if r["portcullis_layer_cache_hit"] is None or base08 is None else r["portcullis_layer_cache_hit"] - base08
    print(f"| {alg} | {fmt(ratio(r['portcullis_layer'], r['raw_aws_lc_rs']), 3)} "
          f"| {fmt(ratio(r['portcullis_jwt_verify'], r['raw_aws_lc_rs']), 3)} "
          f"| {fmt(over, 3)} "
          f"| {fmt(ratio(fastest_peer, r['portcullis_layer_cache_hit']), 1)} "
          f"| {fmt(ratio(r['jwt_authorizer_layer'], r['portcullis_layer']), 3)} "
          f"| {fmt(ratio(r['tower_oauth2_rs_layer'], r['portcullis_layer']), 3)} "
          f"| {fmt(ratio(r['jsonwebtoken_decode'], r['portcullis_jwt_verify']), 3)} |")
