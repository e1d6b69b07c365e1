"""paystack's benchmarks that run the real binary against the AWS emulator.

    api-calls  requests a no-op `plan`, a `drift` and a `destroy` make, per managed resource
    e2e        wall time (median of N) and peak RSS of apply, plan, drift and destroy; with
               --latency-scale S, also an apply through the proxy's latency mode against the
               critical path of the same latency table
    fleet      N suffixed dev stacks, then one `drift` over all of them at once

`scripts/bench NAME` starts a fresh emulator, seeds it and runs this with the emulator's
address and pid in the environment. Each prints a table and writes JSON under target/bench/.
Nothing here asserts a figure: benchmarks measure, tests assert.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
EMULATOR_PID = int(os.environ["EMULATOR_PID"])
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    code: int
    wall: float
    peak_rss_mb: float
    cpu: float
    emulator_cpu: float
    stdout: str
    stderr: str


def emulator_cpu_seconds() -> float:
    """CPU time the emulator process has used so far: user plus system."""
    fields = Path(f"/proc/{EMULATOR_PID}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Paystack:
    """The binary over one copy of the shipped configuration and its own local state."""

    def __init__(self, binary: Path, workdir: Path):
        self.binary = binary
        self.config = workdir / "config"
        self.state = workdir / "state"
        shutil.copytree(ROOT / "config", self.config)

    def run(self, *args: str, check: bool = True, extra_env: dict | None = None) -> Run:
        env = dict(os.environ, NO_COLOR="1", **(extra_env or {}))
        # The compliance function's package, which plan and apply of prod upload.
        env.setdefault("PAYSTACK_FUNCTION_PACKAGE", str(ROOT / "target/lambda/paystack-compliance.zip"))
        env.pop("PAYSTACK_LOG", None)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            cpu0, t0 = emulator_cpu_seconds(), time.monotonic()
            proc = subprocess.Popen(
                [str(self.binary), "--config", str(self.config), "--state-dir", str(self.state), *args],
                stdout=out,
                stderr=err,
                env=env,
            )
            # wait4 gives this child's own peak RSS, not the maximum over every child so far.
            _, status, usage = os.wait4(proc.pid, 0)
            wall, cpu = time.monotonic() - t0, emulator_cpu_seconds() - cpu0
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            own = usage.ru_utime + usage.ru_stime
            run = Run(proc.returncode, wall, usage.ru_maxrss / 1024, own, cpu, out.read().decode(), err.read().decode())
        if check and run.code not in (0, 2):
            sys.exit(f"paystack {' '.join(args)} failed ({run.code}):\n{run.stderr}")
        return run

    def resources(self, env: str, *suffix: str) -> int:
        return len(self.run("state", "list", "--env", env, *suffix).stdout.splitlines())


def emulator(path: str) -> bytes:
    method = "GET" if path.startswith("download") else "POST"
    req = urllib.request.Request(f"{ENDPOINT}/moto-api/recorder/{path}", method=method)
    with urllib.request.urlopen(req) as r:
        return r.read()


def operation(entry: dict) -> tuple[str, str]:
    """The service and operation of one recorded request."""
    headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
    credential = headers.get("authorization", "").split("Credential=")[-1].split(",")[0].split("/")
    service = credential[3] if len(credential) > 3 else "?"
    if target := headers.get("x-amz-target"):
        return service, target.rsplit(".", 1)[-1]
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode(errors="replace")
    url = urllib.parse.urlparse(entry.get("url", ""))
    action = urllib.parse.parse_qs(body).get("Action") or urllib.parse.parse_qs(url.query).get("Action")
    if action:
        return service, action[0]
    return service, f"{entry.get('method', '?')} {url.path.split('/')[1] if '/' in url.path else url.path}"


def recorded(fn) -> list[tuple[str, str]]:
    """Runs `fn` with the emulator's request recorder on, and returns what it recorded."""
    emulator("reset-recording")
    emulator("start-recording")
    try:
        fn()
    finally:
        emulator("stop-recording")
    # One JSON document per request; concurrent requests can land on one line.
    text, decoder, entries, at = emulator("download-recording").decode(), json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return [operation(e) for e in entries]
        entry, at = decoder.raw_decode(text, at)
        entries.append(entry)


OUT = ROOT / "target" / "bench"


def write(name: str, figures: dict) -> None:
    out = OUT
    out.mkdir(parents=True, exist_ok=True)
    figures["commit"] = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    figures["date"] = time.strftime("%Y-%m-%d")
    (out / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nwritten to {out / (name + '.json')}")


def api_calls(p: Paystack, env: str, neighbours: int) -> None:
    protect = ["--override-protection"] if env == "prod" else []
    p.run("init", "--env", env)
    p.run("apply", "--env", env, "--yes")
    # Other stacks in the same account: what they hold must not be read as this one's.
    if neighbours:
        p.run("init", "--env", "dev")
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda i: p.run("apply", "--env", "dev", "--suffix", f"nb{i}", "--yes"), range(neighbours)))
    resources = p.resources(env)
    figures: dict = {"environment": env, "managed_resources": resources, "neighbour_stacks": neighbours, "commands": {}}
    print(
        f"API calls per managed resource, `{env}` ({resources} resources, {neighbours} other stacks in the account),"
        " counted by the emulator's recorder\n"
    )
    print(f"{'command':<10} {'calls':>6} {'per resource':>13}   by service")
    for command in (["plan"], ["drift"], ["destroy", "--yes", *protect]):
        calls = recorded(lambda: p.run(*command, "--env", env))
        by_service = Counter(service for service, _ in calls)
        by_operation = Counter(f"{service}:{op}" for service, op in calls)
        per = len(calls) / resources
        services = ", ".join(f"{s} {n}" for s, n in sorted(by_service.items(), key=lambda x: (-x[1], x[0])))
        print(f"{command[0]:<10} {len(calls):>6} {per:>13.2f}   {services}")
        figures["commands"][command[0]] = {
            "calls": len(calls),
            "per_resource": round(per, 3),
            "by_service": dict(sorted(by_service.items())),
            "by_operation": dict(sorted(by_operation.items())),
        }
    write("api-calls", figures)


class Proxy:
    """`paystack-proxy` in latency mode in front of the emulator, until closed."""

    def __init__(self, binary: Path, scale: float):
        self.proc = subprocess.Popen(
            [str(binary), "--upstream", ENDPOINT, "--latency-scale", str(scale)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        first = self.proc.stdout.readline().strip()
        if not first.startswith("listening on "):
            sys.exit(f"paystack-proxy did not start: {first}")
        self.url = first.removeprefix("listening on ")

    def close(self) -> list[str]:
        """Stops it, and returns what it printed: a line per rewritten answer, then its counts."""
        out, _ = self.proc.communicate("")
        return out.splitlines()


def latency(p: Paystack, env: str, runs: int, scale: float) -> dict:
    """Applies `env` through the proxy's latency mode; the makespan against the critical path."""
    tools = p.binary.parent
    critical = json.loads(
        subprocess.run(
            [str(tools / "paystack-bench"), "--config", str(p.config), "critical-path", "--env", env],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    critical_path = critical["critical_path_seconds"] * scale
    protect = ["--override-protection"] if env == "prod" else []
    samples = []
    for i in range(runs):
        suffix = ["--suffix", f"lat{os.getpid() % 1000}r{i}"]
        proxy = Proxy(tools / "paystack-proxy", scale)
        try:
            through = {"AWS_ENDPOINT_URL": proxy.url, "PAYSTACK_WAIT_CLOCK_SCALE": str(scale)}
            run = p.run("apply", "--env", env, *suffix, "--yes", "--json", extra_env=through)
        finally:
            lines = proxy.close()
        events = [json.loads(line) for line in run.stdout.splitlines()]
        started = [e["at"] for e in events if e["event"] == "started"]
        finished = [e["at"] for e in events if e["event"] == "finished"]
        if run.code != 0 or not started or not events[-1].get("succeeded"):
            sys.exit(f"apply through the latency proxy failed ({run.code}):\n{run.stderr}")
        makespan = max(finished) - min(started)
        gap = on_the_path(events, critical["path"], scale)
        samples.append({"wall": run.wall, "makespan": makespan, "rewritten": len(lines) - 1, "gap": gap})
        p.run("destroy", "--env", env, *suffix, "--yes", *protect)
    median = sorted(samples, key=lambda s: s["makespan"])[len(samples) // 2]
    makespan = median["makespan"]
    wall = statistics.median(s["wall"] for s in samples)
    ratio = makespan / critical_path
    print(f"\nThrough AWS's latency table at {scale} of real time, `{env}`, median of {runs}")
    print("(seconds as AWS would take them: measured / scale)\n")
    print(f"{'critical path':>14} {'makespan':>9} {'ratio':>6} {'apply wall':>11}   critical path through")
    through = " > ".join(f"{c['resource']} {c['seconds']:.0f}" for c in critical["path"] if c["seconds"] >= 1)
    print(f"{critical_path / scale:>14.0f} {makespan / scale:>9.0f} {ratio:>6.3f} {wall / scale:>11.0f}   {through}")
    gap = median["gap"]
    print(
        f"\nwhere the {(makespan - critical_path) / scale:.0f} s over the critical path went, on its resources:"
        f" {gap['calls'] / scale:.0f} s in the calls themselves (the emulator's and the binary's own time,"
        f" which the scale does not shrink), {gap['waits'] / scale:.0f} s waiting past AWS's time (the poll"
        f" cadence, and the state write after each wait), {gap['between'] / scale:.0f} s between one resource"
        " and the next"
    )
    return {
        "latency_scale": scale,
        "critical_path_seconds": round(critical_path, 4),
        "makespan_seconds": round(makespan, 4),
        "makespan_over_critical_path": round(ratio, 4),
        "apply_wall_seconds": round(wall, 3),
        "makespans": [round(s["makespan"], 4) for s in samples],
        "answers_rewritten": [s["rewritten"] for s in samples],
        "gap_on_the_path_seconds": {k: round(v, 4) for k, v in median["gap"].items()},
        "critical_path": critical["path"],
    }


def on_the_path(events: list[dict], path: list[dict], scale: float) -> dict:
    """How the resources of the critical path took longer than their played durations: in
    their calls, in their waits, and between one's end and the next one's start."""
    by: dict[str, dict] = {}
    for e in events:
        r = by.setdefault(e.get("resource", ""), {"calls": 0.0})
        if e["event"] in ("started", "calling", "waiting", "finished"):
            r[e["event"]] = e["at"]
        if e["event"] == "called":
            r["calls"] += e["at"] - r["calling"]
    calls = waits = between = 0.0
    previous_end = None
    for step in path:
        r, played = by[step["resource"]], step["seconds"] * scale
        call_part = r["calls"]
        wait_part = r["finished"] - r.get("waiting", r["finished"])
        # A settling kind's time is played in its wait; a one-call create's, in its answer.
        if step["settles"]:
            wait_part -= played
        else:
            call_part -= played
        calls, waits = calls + call_part, waits + wait_part
        if previous_end is not None:
            between += r["started"] - previous_end
        between += (r["finished"] - r["started"]) - r["calls"] - (r["finished"] - r.get("waiting", r["finished"]))
        previous_end = r["finished"]
    return {"calls": calls, "waits": waits, "between": between}


def e2e(p: Paystack, env: str, runs: int, latency_scale: float | None) -> None:
    protect = ["--override-protection"] if env == "prod" else []
    p.run("init", "--env", env)
    samples: dict[str, list[Run]] = {"apply": [], "plan": [], "drift": [], "destroy": []}
    for i in range(runs):
        # A suffix per run: prod keeps a final snapshot named after its cluster.
        suffix = ["--suffix", f"e2e{os.getpid() % 1000}r{i}"]
        samples["apply"].append(p.run("apply", "--env", env, *suffix, "--yes"))
        samples["plan"].append(p.run("plan", "--env", env, *suffix, "--detailed-exitcode"))
        samples["drift"].append(p.run("drift", "--env", env, *suffix))
        samples["destroy"].append(p.run("destroy", "--env", env, *suffix, "--yes", *protect))
        for name in ("plan", "drift"):
            if samples[name][-1].code != 0:
                sys.exit(f"`{name}` after apply found changes:\n{samples[name][-1].stdout}")
    print(f"End to end on the emulator, `{env}`, median of {runs}\n")
    print(f"{'command':<10} {'wall s':>8} {'peak RSS MB':>12} {'paystack CPU s':>15} {'emulator CPU s':>15}")
    figures: dict = {"environment": env, "runs": runs, "commands": {}}
    for name, rs in samples.items():
        wall = statistics.median(r.wall for r in rs)
        rss = max(r.peak_rss_mb for r in rs)
        own = statistics.median(r.cpu for r in rs)
        cpu = statistics.median(r.emulator_cpu for r in rs)
        print(f"{name:<10} {wall:>8.2f} {rss:>12.1f} {own:>15.2f} {cpu:>15.2f}")
        figures["commands"][name] = {
            "median_wall_seconds": round(wall, 3),
            "peak_rss_mb": round(rss, 1),
            "median_paystack_cpu_seconds": round(own, 3),
            "median_emulator_cpu_seconds": round(cpu, 3),
            "walls": [round(r.wall, 3) for r in rs],
        }
    if latency_scale:
        figures["latency"] = latency(p, env, runs, latency_scale)
        figures["makespan_over_critical_path"] = figures["latency"]["makespan_over_critical_path"]
    write("e2e", figures)


def fleet(p: Paystack, sizes: list[int], parallel: int, drift_parallel: int) -> None:
    p.run("init", "--env", "dev")
    applied: list[str] = []
    figures: dict = {"environment": "dev", "drift_parallel": drift_parallel, "fleets": []}
    print(f"A fleet of suffixed dev stacks, one `drift --parallel {drift_parallel}` over all of them at once\n")
    print(
        f"{'stacks':>6} {'resources':>10} {'requests':>9} {'per resource':>13} {'wall s':>8} {'peak RSS MB':>12}"
        f" {'paystack CPU s':>15} {'emulator CPU s':>15}"
    )
    for n in sizes:
        wanted = [f"fleet{i}" for i in range(len(applied), n)]
        with ThreadPoolExecutor(parallel) as pool:
            list(pool.map(lambda s: p.run("apply", "--env", "dev", "--suffix", s, "--yes"), wanted))
        applied += wanted
        resources = sum(p.resources("dev", "--suffix", s) for s in applied)
        runs: list[Run] = []
        args = ("drift", "--env", "dev", "--suffix", ",".join(applied), "--parallel", str(drift_parallel))
        calls = recorded(lambda: runs.append(p.run(*args, check=False)))
        requests = len(calls)
        run = runs[0]
        if run.code != 0:
            sys.exit(f"drift over the fleet found drift or failed ({run.code}):\n{run.stdout}\n{run.stderr}")
        print(
            f"{n:>6} {resources:>10} {requests:>9} {requests / resources:>13.3f} {run.wall:>8.2f}"
            f" {run.peak_rss_mb:>12.1f} {run.cpu:>15.2f} {run.emulator_cpu:>15.2f}",
            flush=True,
        )
        figures["fleets"].append(
            {
                "stacks": n,
                "resources": resources,
                "requests": requests,
                "wall_seconds": round(run.wall, 3),
                "peak_rss_mb": round(run.peak_rss_mb, 1),
                "paystack_cpu_seconds": round(run.cpu, 3),
                "emulator_cpu_seconds": round(run.emulator_cpu, 3),
                "by_operation": dict(sorted(Counter(f"{s}:{op}" for s, op in calls).items())),
            }
        )
    write("fleet", figures)


def main() -> None:
    global OUT
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=OUT, help="where the JSON goes")
    sub = parser.add_subparsers(dest="name", required=True)
    a = sub.add_parser("api-calls")
    a.add_argument("--env", default="prod")
    a.add_argument("--neighbours", type=int, default=2, help="suffixed dev stacks applied beside it first")
    e = sub.add_parser("e2e")
    e.add_argument("--env", default="prod")
    e.add_argument("--runs", type=int, default=5)
    e.add_argument(
        "--latency-scale",
        type=float,
        help="also apply through the proxy's latency mode at this share of AWS's durations (e.g. 0.005)",
    )
    f = sub.add_parser("fleet")
    f.add_argument("--sizes", default="10,50", help="fleet sizes, applied cumulatively")
    f.add_argument("--parallel", type=int, default=4, help="applies at once while building the fleet")
    f.add_argument("--drift-parallel", type=int, default=8, help="the drift's --parallel")
    args = parser.parse_args()
    OUT = args.out.resolve()
    with tempfile.TemporaryDirectory(prefix="paystack-bench-") as work:
        p = Paystack(args.binary.resolve(), Path(work))
        if args.name == "api-calls":
            api_calls(p, args.env, args.neighbours)
        elif args.name == "e2e":
            if args.latency_scale is not None and not 0 < args.latency_scale <= 1:
                sys.exit(f"--latency-scale {args.latency_scale} must be above 0 and at most 1")
            e2e(p, args.env, args.runs, args.latency_scale)
        else:
            fleet(p, [int(n) for n in args.sizes.split(",")], args.parallel, args.drift_parallel)


if __name__ == "__main__":
    main()
