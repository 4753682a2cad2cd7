#!/usr/bin/env python3
"""Turn the raw measurements of bench/gateway/run.sh into the Markdown results table.

Usage: report.py META_JSON RESULTS_JSONL [GANTRY_ERRORS_TXT [HEADERS_TXT]]. One JSON line per
(case, proxy, round) comes from wrk's stats.lua plus the proxy's CPU seconds; the tables
show the median over rounds, the ratios Gantry/Envoy (and Gantry/Gantry-base when run.sh had a
GANTRY_BASE_BIN), and every round underneath. A proxy that was not run (PEERS=none, no base
binary) has no rows and no ratios.
"""
import json
import statistics
import sys

CASES = [
    ("baseline", "Direct to nginx (no proxy)"),
    ("plain", "1. Plain proxy"),
    ("jwt", "2. JWT + rate limit"),
    ("plain-paced", "1p. Plain proxy, paced"),
    ("jwt-paced", "2p. JWT + rate limit, paced"),
]
WHAT = {
    ("baseline", "nginx"): "nginx itself (CPU is nginx's, on the load core)",
    ("plain", "gantry"): "Gantry `/open/1.0.0/ping` (authType None)",
    ("plain", "envoy"): "Envoy: router only",
    ("jwt", "gantry"): "Gantry `/bench/1.0.0/ping`: JWT RS256 + subscription + scopes + tier limit",
    ("jwt", "envoy"): "Envoy: jwt_authn (cache 100) + local_ratelimit + router",
}
PROXIES = ("nginx", "gantry", "gantry-base", "envoy")


# A round is *disturbed* when more than this share of the proxy core went to something other
# than the proxies (another workload on the machine), or wrk saw socket errors (a stall).
FOREIGN_LIMIT = 15.0


def derive(r: dict) -> dict:
    secs = r["duration_us"] / 1e6
    reqs = max(r["requests"], 1)
    errors = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
    return {
        **r,
        "rps": r["requests"] / secs,
        "cpu_us_per_req": r["cpu_s"] * 1e6 / reqs,
        "util": 100 * r["cpu_s"] / secs,
        # The proxy core's busy share, whoever used it; beyond the proxy's own share it is
        # softirq work for loopback traffic plus anything else that ran there (a build!).
        "core_util": 100 * r.get("core_s", 0) / secs,
        "errors": errors,
        # CPU on the proxy core that was neither the measured proxy nor the idle ones: loopback
        # softirq (a few %) plus whatever else the machine ran there.
        "foreign": 100 * (r.get("core_s", 0) - (r["cpu_s"] if r["proxy"] != "nginx" else 0) - r["bg_cpu_s"]) / secs,
    }


def ms(us: float) -> str:
    return f"{us / 1000:.2f} ms"


def disturbed(r: dict) -> bool:
    # Foreign CPU only counts where the proxy should fill its core: in the baseline the proxy
    # core is not in the path, and in paced cases other work may use the idle time.
    saturating = r["case"] in ("plain", "jwt")
    return (saturating and r["foreign"] > FOREIGN_LIMIT) or r["errors"] > 0


def median_row(all_rows: list) -> dict:
    clean = [r for r in all_rows if not disturbed(r)]
    rows = clean or all_rows  # when every round was disturbed, say so rather than show nothing
    med = lambda k: statistics.median(r[k] for r in rows)  # noqa: E731
    return {
        "used": f"{len(clean)}/{len(all_rows)}" if clean else f"0/{len(all_rows)} (all disturbed)",
        "rps": med("rps"),
        "p50_us": med("p50_us"),
        "p99_us": med("p99_us"),
        "cpu_s": med("cpu_s"),
        "util": med("util"),
        "core_util": med("core_util"),
        "cpu_us_per_req": med("cpu_us_per_req"),
        "bg_cpu_s": max(r["bg_cpu_s"] for r in rows),
        "non_2xx": sum(r["non_2xx_3xx"] for r in all_rows),
        "errors": sum(r["errors"] for r in all_rows),
        "requests": sum(r["requests"] for r in all_rows),
    }


def ratio_row(title: str, a: dict, b: dict) -> str:
    """One ratio line, a / b: req/s, µs CPU per request, p99."""
    return (
        f"| {title} | {a['rps'] / b['rps']:.2f}× | {a['cpu_us_per_req'] / b['cpu_us_per_req']:.2f}× | "
        f"{a['p99_us'] / b['p99_us']:.2f}× |"
    )


def main() -> int:
    meta = json.load(open(sys.argv[1], encoding="utf-8"))
    rows = [derive(json.loads(line)) for line in open(sys.argv[2], encoding="utf-8") if line.strip()]
    gantry_errors = ""
    if len(sys.argv) > 3:
        gantry_errors = open(sys.argv[3], encoding="utf-8").read().strip()

    if meta.get("gantry_tier", "Unlimited") == "Unlimited":
        WHAT[("jwt", "gantry")] = WHAT[("jwt", "gantry")].replace(" + tier limit", " (tier Unlimited: no limiter)")
    for c in ("plain", "jwt"):  # the second build is configured the same way
        WHAT[(c, "gantry-base")] = "Gantry-base" + WHAT[(c, "gantry")][len("Gantry"):]
    base = bool(meta.get("gantry_base_rev"))
    envoy = meta.get("peers", "envoy") != "none"
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["case"], r["proxy"]), []).append(r)
    med = {k: median_row(v) for k, v in groups.items()}

    out = []
    w = out.append
    if base:
        vs = " and Envoy" if envoy else ""
        w(f"# Gantry `{meta['gantry_rev']}` vs Gantry-base `{meta['gantry_base_rev']}`{vs} — {meta['date']}")
    else:
        w(f"# Gateway vs Envoy — {meta['date']}")
    w("")
    w(
        f"Machine: {meta['cores']} × {meta['cpu']}, Linux {meta['kernel']}. "
        f"Gantry `{meta['gantry_rev']}` (binary sha256 {meta['gantry_sha']}…), "
        + (
            f"Gantry-base `{meta['gantry_base_rev']}` (binary sha256 {meta['gantry_base_sha']}…; "
            f"a second `gantry up` with its own data directory, ports and token, configured the same way), "
            if base
            else ""
        )
        + (f"Envoy {meta['envoy']}, " if envoy else "Envoy not run (`PEERS=none`), ")
        + f"nginx {meta['nginx']}, wrk {meta['wrk']}."
    )
    w(
        f"Pinning: proxy ({' or '.join(['Gantry'] + (['Gantry-base'] if base else []) + (['Envoy `--concurrency 1`'] if envoy else []))}) on CPU {meta['proxy_cpu']}; "
        f"wrk (1 thread) on CPU {meta['load_cpu']}; nginx (1 worker) on CPU {meta['upstream_cpu']}. "
        f"{meta['connections']} keep-alive connections, {meta['warmup']} s warm-up + "
        f"{meta['duration']} s measured per case, {meta['rounds']} round(s); medians shown. "
        f"Same upstream for all; "
        f"{'the same token' if envoy else 'a token'} ({meta['token_len']} bytes, RS256) for Gantry{' and Envoy' if envoy else ''}"
        f"{', Gantry-base its own from its own key manager, same kind' if base else ''}. "
        f"Every process we started ran at nice {meta.get('nice', '0')}. "
        f"Gantry's subscription tier: `{meta.get('gantry_tier', 'Unlimited')}`"
        f"{' (10^9 requests/min: its limiter runs on every request, never rejects)' if meta.get('gantry_tier', 'Unlimited') != 'Unlimited' else ' (no limiter runs)'}. "
        f"Access log: Envoy none (its configs declare none); Gantry "
        f"{'one line per request to a file' if meta.get('gantry_access_log') == 'on' else 'off (`GANTRY_LOG=info,access=off`)'}. "
        f"*Paced* cases: each connection waits {meta.get('paced_ms', '?')} ms between a response "
        f"and its next request, so both proxies get about the same request rate and their "
        f"latencies are comparable; the other cases saturate the proxy."
    )
    w("")
    w("| Case | Proxy | req/s | p50 | p99 | proxy CPU s | proxy busy | core busy | µs CPU / req | non-2xx | socket errors | rounds used |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case, title in CASES:
        for proxy in PROXIES:
            m = med.get((case, proxy))
            if not m:
                continue
            w(
                f"| {title} | {WHAT[(case.split('-')[0], proxy)]} | {m['rps']:,.0f} | {ms(m['p50_us'])} | "
                f"{ms(m['p99_us'])} | {m['cpu_s']:.2f} | {m['util']:.0f}% | {m['core_util']:.0f}% | "
                f"{m['cpu_us_per_req']:.1f} | {m['non_2xx']} | {m['errors']} | {m['used']} |"
            )
    if base:
        w("")
        w(
            f"**Ratios, Gantry / Gantry-base** (`{meta['gantry_rev']}` / `{meta['gantry_base_rev']}`; "
            f"req/s: above 1 is the new build faster; CPU per request and p99: above 1 is it dearer or "
            f"slower). *Per round* divides the two builds' CPU per request within each round (same "
            f"minutes, same machine state), all rounds, * marks a round disturbed for either:"
        )
        w("")
        w("| Case | req/s | µs CPU / req | p99 | µs CPU / req, Gantry vs base | CPU / req per round |")
        w("|---|---:|---:|---:|---:|---|")
        for case, title in CASES[1:]:
            g, b = med.get((case, "gantry")), med.get((case, "gantry-base"))
            if not (g and b):
                continue
            by_round = {r["round"]: r for r in groups[(case, "gantry-base")]}
            rounds = []
            for r in groups[(case, "gantry")]:
                o = by_round.get(r["round"])
                if o:
                    flag = "*" if disturbed(r) or disturbed(o) else ""
                    rounds.append(f"{r['cpu_us_per_req'] / o['cpu_us_per_req']:.3f}{flag}")
            w(
                ratio_row(title, g, b)
                + f" {g['cpu_us_per_req']:.1f} / {b['cpu_us_per_req']:.1f} | {', '.join(rounds)} |"
            )
    if envoy:
        w("")
        w("**Ratios, Gantry / Envoy** (req/s: higher is better for Gantry; CPU per request and p99: lower is better):")
        w("")
        w("| Case | req/s | µs CPU / req | p99 |")
        w("|---|---:|---:|---:|")
        for case, title in CASES[1:]:
            g, e = med.get((case, "gantry")), med.get((case, "envoy"))
            if g and e:
                w(ratio_row(title, g, e))
    costs = []
    for proxy, name in (("gantry", "Gantry"), ("gantry-base", "Gantry-base"), ("envoy", "Envoy")):
        p, j = med.get(("plain", proxy)), med.get(("jwt", proxy))
        if p and j:
            costs.append(
                f"{name} {j['cpu_us_per_req'] / p['cpu_us_per_req']:.2f}× "
                f"({p['cpu_us_per_req']:.1f} → {j['cpu_us_per_req']:.1f} µs)"
            )
    if costs:
        w("")
        w(f"Cost of enforcement (CPU/req of case 2 ÷ case 1): {', '.join(costs)}.")
    w("")
    w("**Memory (RSS)**:")
    w("")
    w("| Process | idle, configured, before load | peak after all rounds | threads |")
    w("|---|---:|---:|---:|")
    for title, key, threads in (
        ("`gantry up` (control plane + gateway, 2 APIs)", "gantry", "gantry_threads"),
        ("Gantry-base `gantry up`, the same", "gantry_base", "gantry_base_threads"),
        ("Envoy, plain config", "envoy_plain", "envoy_threads"),
        ("Envoy, jwt_authn + local_ratelimit", "envoy_jwt", "envoy_threads"),
    ):
        if meta.get(f"{key}_rss") is None:
            continue  # not run
        w(
            f"| {title} | {meta[f'{key}_rss'] / 1024:.1f} MB | "
            f"{(meta.get(f'{key}_peak') or 0) / 1024:.1f} MB | {meta[threads]} |"
        )
    w(f"| nginx upstream | {meta['nginx_rss'] / 1024:.1f} MB | | 1 |")
    w("")
    bg = max(r["bg_cpu_s"] for r in rows) if rows else 0
    w(
        f"Background CPU on the proxy core from the idle proxies during any one window: "
        f"at most {bg:.2f} s (the `gantry up` control plane is idle during load)."
    )
    if gantry_errors:
        w("")
        w("Gantry log lines mentioning errors during the run:")
        w("")
        w("```")
        lines = gantry_errors.splitlines()
        w("\n".join(lines[:20]) + (f"\n… {len(lines) - 20} more" if len(lines) > 20 else ""))
        w("```")
    w("")
    w(
        f"Machine busy before the load started (all cores, everything we started idle): "
        f"{meta.get('quiet_busy', '?')}%. The *core busy* column is the proxy core's busy share "
        f"from /proc/stat: beyond the proxy's own CPU it holds loopback softirq work and anything "
        f"else that ran on that core. Medians use the rounds that were not *disturbed*: wrk saw "
        f"socket errors (a stall), or, in a saturating case, more than {FOREIGN_LIMIT:.0f}% of "
        f"the proxy core went to something other than the proxies (*foreign*, which includes a "
        f"few % of loopback softirq). In the baseline and the paced cases the proxy core has idle "
        f"time that other work on the machine may use, so *foreign* there is shown, not judged. "
        f"Non-2xx and socket errors are summed over all rounds."
    )
    w("")
    w("<details><summary>Every round</summary>")
    w("")
    w("| Case | Proxy | Round | req/s | p50 | p99 | max | proxy CPU s | core busy | µs CPU / req | core µs / req | foreign | non-2xx | errors | |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        w(
            f"| {r['case']} | {r['proxy']} | {r['round']} | {r['rps']:,.0f} | {ms(r['p50_us'])} | "
            f"{ms(r['p99_us'])} | {ms(r['max_us'])} | {r['cpu_s']:.2f} | {r['core_util']:.0f}% | {r['cpu_us_per_req']:.1f} | "
            f"{r.get('core_s', 0) * 1e6 / max(r['requests'], 1):.1f} | "
            f"{r['foreign']:.0f}% | {r['non_2xx_3xx']} | {r['errors']} | "
            f"{'**disturbed**' if disturbed(r) else ''} |"
        )
    w("")
    w("</details>")
    if len(sys.argv) > 4:
        w("")
        w("<details><summary>Response headers, one request each</summary>")
        w("")
        w("```")
        w(open(sys.argv[4], encoding="utf-8").read().strip())
        w("```")
        w("")
        w("</details>")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
