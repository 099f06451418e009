"""The Markdown report: the article's table with measured rows, the targets, then every measure in detail."""

from __future__ import annotations

from typing import Any

ARTICLE_CLAIMS = (
    ("large LLM", 600, 500, 1100),
    ("Hugging Face Transformers", 100, 150, 250),
    ("distributed small models over Kafka", 90, 125, 215),
)
EMBEDDED = "3"
EVENT_PATH = "5"
BUSY_LOAD_PER_CPU = 0.5
TARGET_TOTAL_MS, TARGET_VS_ARTICLE, TARGET_VS_TORCH = 10.0, 12.0, 3.0
TARGET_SENTIMENT_PER_S, TARGET_COLD_START_MS, TARGET_RSS_MB = 1000.0, 1000.0, 400.0


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return f"{text}{unit}"


def _measured(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in results["systems"].items() if v.get("available")}


def _total(system: dict[str, Any], stat: str = "p50") -> float | None:
    total = system.get("latency", {}).get("all_prompts", {}).get("total", {})
    value: float | None = total.get(stat)
    return value


def _stage(system: dict[str, Any], stage: str, stat: str = "p50") -> float | None:
    value: float | None = system.get("latency", {}).get("all_prompts", {}).get(stage, {}).get(stat)
    return value


def _ratio(results: dict[str, Any], other: str) -> float | None:
    measured = _measured(results)
    if EMBEDDED not in measured or other not in measured:
        return None
    ours, theirs = _total(measured[EMBEDDED]), _total(measured[other])
    return theirs / ours if ours and theirs else None


def _target(name: str, goal: str, value: float | None, met: bool | None, shown: str) -> dict[str, Any]:
    return {"target": name, "goal": goal, "measured": value, "shown": shown, "met": met}


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each of the issue's targets against this run; `met` is None where the run did not measure it."""
    measured = _measured(results)
    embedded = measured.get(EMBEDDED, {})
    total = _total(embedded) if embedded else None
    comparable = not results["quick"]
    vs_article, vs_torch = _ratio(results, "1"), _ratio(results, "2")
    sentiment_32 = embedded.get("throughput", {}).get("sentiment", {}).get("32")
    cold = results.get("cold_start", {}).get("first_answer_ms")
    rss = embedded.get("peak_rss_mb_serving")
    return [
        _target(
            "embedded total p50, article prompts",
            f"<= {TARGET_TOTAL_MS:g} ms",
            total,
            None if total is None else total <= TARGET_TOTAL_MS,
            fmt(total, " ms"),
        ),
        _target(
            "faster than the article stack (same run)",
            f">= {TARGET_VS_ARTICLE:g}x",
            vs_article,
            None if vs_article is None or not comparable else vs_article >= TARGET_VS_ARTICLE,
            fmt(vs_article, "x"),
        ),
        _target(
            "faster than our models in PyTorch (same run)",
            f">= {TARGET_VS_TORCH:g}x",
            vs_torch,
            None if vs_torch is None or not comparable else vs_torch >= TARGET_VS_TORCH,
            fmt(vs_torch, "x"),
        ),
        _target(
            "sentiment throughput at batch 32",
            f">= {TARGET_SENTIMENT_PER_S:,.0f} texts/s",
            sentiment_32,
            None if sentiment_32 is None else sentiment_32 >= TARGET_SENTIMENT_PER_S,
            fmt(sentiment_32, " texts/s"),
        ),
        _target(
            "cold start: new process to first answer",
            f"<= {TARGET_COLD_START_MS:,.0f} ms",
            cold,
            None if cold is None else cold <= TARGET_COLD_START_MS,
            fmt(cold, " ms"),
        ),
        _target(
            "embedded peak RSS",
            f"<= {TARGET_RSS_MB:g} MB",
            rss,
            None if rss is None else rss <= TARGET_RSS_MB,
            fmt(rss, " MB"),
        ),
    ]


def _table(header: list[str], rows: list[list[str]], right_from: int = 1) -> list[str]:
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"] + [
        "| " + " | ".join(r) + " |" for r in rows
    ]


def _header(results: dict[str, Any]) -> list[str]:
    m, plan = results["machine"], results["plan"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    lines = [
        "# slmesh bench",
        "",
        f"- Date: {m['date']}",
        f"- Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs ({m['usable_cpus']} usable), "
        f"{m['memory_gib']} GiB; {m['os']}; Python {m['python']}",
        f"- Versions: {versions}",
        f"- Load average (1, 5, 15 min) at start {m['load_average_at_start']}, at end "
        f"{m.get('load_average_at_end')}: other work on the machine inflates every number",
        f"- Command: `{results['command']}`",
        f"- Models: `{results['models_dir']}`",
        f"- Threads: PyTorch `torch.set_num_threads({plan['threads']})`; ONNX Runtime "
        f"one intra-op pool of {plan['onnx_threads'] or 'one thread per usable core'}"
        f"{' thread(s)' if plan['onnx_threads'] else ''} shared by all sessions, "
        f"skills fanned out on a {plan['skill_workers']}-thread pool",
        f"- Latency: p50/p95 over {plan['runs']} runs of each prompt after {plan['warmup']} warm-up runs, "
        "prompts interleaved"
        + (
            "; two passes, the second with the systems in reverse order, samples pooled "
            "(sustained load slows this kind of machine, which would favour whichever system runs first)"
            if plan.get("latency_passes", 1) > 1
            else ""
        ),
    ]
    busy = m["load_average_at_start"][:1]
    if busy and busy[0] > BUSY_LOAD_PER_CPU * (m["logical_cpus"] or 1):
        lines += [
            "",
            f"**The machine was busy** (load average {busy[0]} on {m['logical_cpus']} CPUs): every number is "
            "inflated, and multi-threaded PyTorch suffers most, which distorts the ratios. Rerun on an idle machine.",
        ]
    if results["quick"]:
        lines += [
            "",
            "**Quick mode**: tiny configs and a handful of runs. The numbers check the code path only.",
        ]
    return lines


def _article_table(results: dict[str, Any]) -> list[str]:
    rows = [
        [f"Article's claim: {name} (model calls only)", fmt(a, " ms"), fmt(b, " ms"), fmt(t, " ms"), "–", "–"]
        for name, a, b, t in ARTICLE_CLAIMS
    ]
    ours = _total(results["systems"][EMBEDDED]) if results["systems"][EMBEDDED].get("available") else None
    for key, system in results["systems"].items():
        label = f"{key}. {system['title']}"
        if not system.get("available"):
            rows.append([label, f"not available: {system['reason']}", "", "", "", ""])
            continue
        total = _total(system)
        rows.append(
            [
                label,
                fmt(_stage(system, "router"), " ms"),
                fmt(_stage(system, "task_execution"), " ms"),
                f"**{fmt(total, ' ms')}**",
                fmt(_total(system, "p95"), " ms"),
                fmt(total / ours, "x") if ours and total else "–",
            ]
        )
    header = ["Approach", "Prompt analysis", "Task execution", "Total p50", "Total p95", "vs slmesh embedded"]
    return [
        "## End-to-end latency, laid out like the article's table",
        "",
        *_table(header, rows),
        "",
        "Prompt analysis is the router stage's p50; task execution is the p50 of everything after it "
        "(skills, fan-out, aggregation); total is the wall time of the whole request, which the article "
        "never measured.",
    ]


def _stage_table(results: dict[str, Any]) -> list[str]:
    stages = ("router", "sentiment", "qa", "aggregate", "total")
    rows = []
    for key, system in _measured(results).items():
        per_prompt = system["latency"]["per_prompt"]
        for i, stats in enumerate([*per_prompt, system["latency"]["all_prompts"]]):
            prompt = f"prompt {i + 1}" if i < len(per_prompt) else "all"
            cells = [f"{fmt(stats[s]['p50'])} / {fmt(stats[s]['p95'])}" if s in stats else "–" for s in stages]
            rows.append([f"{key}. {system['title']}", prompt, *cells])
    return [
        "## Per stage (p50 / p95 ms)",
        "",
        *_table(["System", "Prompt", "Router", "Sentiment", "QA", "Aggregate", "Total"], rows, right_from=2),
        "",
        "In slmesh the sentiment and QA stages run in parallel, so total is less than their sum.",
    ]


def _targets_table(results: dict[str, Any]) -> list[str]:
    verdict = {True: "met", False: "**missed**", None: "not measured"}
    rows = [[t["target"], t["goal"], t["shown"], verdict[t["met"]]] for t in results["targets"]]
    return ["## Targets", "", *_table(["Target", "Goal", "Measured", "Verdict"], rows, right_from=2)]


def _throughput_table(results: dict[str, Any]) -> list[str]:
    sizes = [str(b) for b in results["plan"]["batch_sizes"]]
    rows = []
    for key, system in _measured(results).items():
        found = system.get("throughput")
        if not found:
            continue
        for skill in ("sentiment", "qa"):
            rows.append(
                [f"{key}. {system['title']}", skill, fmt(found["mean_tokens"][skill])]
                + [fmt(found[skill].get(b)) for b in sizes]
            )
    if not rows:
        return []
    header = ["System", "Skill", "Tokens/text", *[f"batch {b}" for b in sizes]]
    return [
        "## Batch throughput (texts/s)",
        "",
        *_table(header, rows, right_from=2),
        "",
        "One session per skill on all the machine's cores, as an SQS-triggered skill function runs its batch. "
        "The article stack is left out: at batch 128 it alone would take minutes on 2 cores.",
    ]


def _cold_table(results: dict[str, Any]) -> list[str]:
    rows = []
    cold = results.get("cold_start", {})
    if cold.get("available"):
        rows.append(["New process to first answer (`slmesh ask`, median)", fmt(cold["first_answer_ms"], " ms")])
        rows.append(["… of which the Python interpreter starting", fmt(cold["python_startup_ms"], " ms")])
    elif cold:
        rows.append(["New process to first answer", f"not available: {cold['reason']}"])
    for key, system in _measured(results).items():
        for skill, ms in system.get("load_ms", {}).items():
            rows.append([f"{key}. {system['title']}: load {skill}", fmt(ms, " ms")])
        if "first_request_ms" in system:
            rows.append(
                [
                    f"{key}. {system['title']}: first request after load",
                    fmt(system["first_request_ms"], " ms"),
                ]
            )
        if "first_invoke_ms" in system:
            rows.append(
                [
                    f"{key}. {system['title']}: first request (each function's init)",
                    fmt(system["first_invoke_ms"], " ms"),
                ]
            )
    return ["## Cold start and model load", "", *_table(["Measure", "Time"], rows)]


def _size(system: dict[str, Any], models: dict[str, Any], key: str) -> str:
    if key == EMBEDDED and models:
        return fmt(sum(m["model_mb"] for m in models.values()), " MB (int8 ONNX files)")
    parameters = system.get("parameters")
    if parameters:
        return fmt(sum(parameters.values()) * 4 / 1e6, " MB (fp32 parameters)")
    return "–"


def _memory_table(results: dict[str, Any]) -> list[str]:
    plan = results["plan"]
    models = results["footprint"]["models"]
    rows = [
        [
            f"{key}. {system['title']}",
            fmt(system.get("peak_rss_mb_serving"), " MB"),
            fmt(system.get("peak_rss_mb_batches"), " MB"),
            fmt(system.get("peak_rss_mb"), " MB"),
            _size(system, models, key),
        ]
        for key, system in _measured(results).items()
        if "peak_rss_mb" in system
    ]
    files = [
        [skill, fmt(m["model_mb"], " MB"), fmt(m["fp32_mb"], " MB"), fmt(m["tokenizer_mb"], " MB")]
        for skill, m in models.items()
    ]
    return [
        "## Memory and size",
        "",
        *_table(["System", "Peak RSS: the prompts", "+ batches", "+ long inputs", "Model size"], rows),
        "",
        *_table(["Model file", "int8 ONNX", "fp32 ONNX", "tokenizer.json"], files),
        "",
        "Peak RSS is each worker's `ru_maxrss` after the latency runs, after the batch runs (batch sizes up to "
        f"{max(plan['batch_sizes'])}) and after the input-length runs (up to {max(plan['lengths'])} tokens, "
        f"batch {plan['length_batch']}): activations of the largest batches, not the models, make the later "
        "columns grow.",
        "",
        *_images_table(results["footprint"]["images"]),
    ]


def _images_table(images: dict[str, Any]) -> list[str]:
    if not images.get("available"):
        return [f"Container images: not available: {images['reason']}."]
    rows = [
        [
            f"`{skill}`",
            fmt(row["added_mb"], " MB"),
            fmt(row.get("build_cold_s"), " s"),
            fmt(row["build_cached_s"], " s"),
            fmt(row["cold_start_ms"], " ms"),
            fmt(row["warm_p50_ms"], " ms"),
            fmt(row["warm_p95_ms"], " ms"),
        ]
        for skill, row in images["images"].items()
    ]
    header = ["Image", "Added to base", "Build cold", "Build cached", "Cold start", "Warm p50", "Warm p95"]
    return [
        "Container images (functions/Dockerfile):",
        "",
        *_table(header, rows),
        "",
        f"Base `{images['base']}` ({fmt(images['base_mb'], ' MB')}), engine: {images['engine']}. Added to base: "
        "the image's size minus the base's. Build cold: no layer cache (base present); cached: nothing changed. "
        "Cold start: `docker run` to the first answer of the skill's direct payload, the model load included; "
        "warm: the same invoke over the emulator's HTTP API, one container.",
    ]


def _length_table(results: dict[str, Any]) -> list[str]:
    rows = []
    for key, system in _measured(results).items():
        for row in system.get("lengths", []):
            rows.append(
                [
                    f"{key}. {system['title']}",
                    str(row["tokens"]),
                    fmt(row["sentiment_ms"]["p50"], " ms"),
                    fmt(row["qa_ms"]["p50"], " ms"),
                    fmt(row["sentiment_texts_per_s"]),
                ]
            )
    if not rows:
        return []
    header = [
        "System",
        "Tokens",
        "Sentiment p50 (batch 1)",
        "QA p50 (batch 1)",
        f"Sentiment texts/s (batch {results['plan']['length_batch']})",
    ]
    return [
        "## Scaling with input length",
        "",
        *_table(header, rows, right_from=1),
        "",
        "QA inputs are the question plus a passage cut to the length; past 384 tokens QA reads two windows.",
    ]


def _concurrency_table(results: dict[str, Any]) -> list[str]:
    found = results.get("concurrency")
    if not found:
        return []
    if not found.get("available"):
        return ["## Concurrent requests to `slmesh serve`", "", f"Not available: {found['reason']}"]
    rows = [
        [
            str(level["clients"]),
            str(level["requests"]),
            fmt(level["latency_ms"]["p50"], " ms"),
            fmt(level["latency_ms"]["p95"], " ms"),
            fmt(level["requests_per_s"]),
        ]
        for level in found["levels"]
    ]
    return [
        "## Concurrent requests to `slmesh serve`",
        "",
        *_table(["Clients", "Requests", "p50", "p95", "Requests/s"], rows),
        "",
        f"{found['server']}; the clients share the machine's cores with the server.",
    ]


def event_path_table(results: dict[str, Any]) -> list[str]:
    system = results["systems"].get(EVENT_PATH, {})
    found = system.get("event_path")
    if not system.get("available") or not found:
        return []
    jobs, crowd = found["submit_to_completed_ms"], found["burst"]
    rows = [
        ["one job at a time", str(jobs["n"]), fmt(jobs["p50"], " ms"), fmt(jobs["p95"], " ms"), "–"],
        [
            f"burst of {crowd['jobs']} ({crowd['completed']} completed, {crowd['duplicates']} duplicated)",
            str(crowd["latency_ms"]["n"]),
            fmt(crowd["latency_ms"]["p50"], " ms"),
            fmt(crowd["latency_ms"]["p95"], " ms"),
            fmt(crowd["jobs_per_s"]),
        ],
    ]
    return [
        "## Event path in LocalStack (POST /v1/jobs to AnalysisCompleted)",
        "",
        *_table(["Jobs", "n", "p50", "p95", "Jobs/s"], rows),
        "",
        f"Burst: submitted in {crowd['submitted_s']} s, all completed after {crowd['seconds']} s; statuses "
        f"{crowd['statuses']}. LocalStack runs every service in one Python process on this machine's cores, so "
        "these are the emulator's numbers, not AWS's.",
    ]


def _notes(results: dict[str, Any]) -> list[str]:
    lines = ["## How each system ran", ""]
    for key, system in results["systems"].items():
        if system.get("available"):
            lines.append(f"- **{key}. {system['title']}**: " + "; ".join(system.get("notes", [])) + ".")
        else:
            lines.append(f"- **{key}. {system['title']}**: not available: {system['reason']}.")
    embedded = results["systems"][EMBEDDED]
    if embedded.get("available") and embedded.get("sample", {}).get("answer"):
        lines.append(f"- slmesh's answer to the last prompt: “{embedded['sample']['answer']}”")
    if results.get("charts"):
        lines += ["", "Charts: " + ", ".join(f"`{c}`" for c in results["charts"]) + "."]
    return lines


def markdown(results: dict[str, Any]) -> str:
    sections = [
        _header(results),
        _article_table(results),
        _targets_table(results),
        _stage_table(results),
        _throughput_table(results),
        _cold_table(results),
        _memory_table(results),
        _length_table(results),
        _concurrency_table(results),
        event_path_table(results),
        _notes(results),
    ]
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"
