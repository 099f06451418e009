"""Does QA abstain when its passage does not hold the answer? `python -m slmesh.research.grounding COMMAND`.

`pairs` builds the negative-pair dev set and runs the served int8 QA model once per pair. Positives are the QED dev
and SubjQA dev answerable questions with their own paragraph. Each of those questions is also paired with a passage
of another article: one drawn at random (seeded), and the "hard" one, the most similar other passage by the served
embedder, which is what retrieval would hand QA when the question's own paragraph is missing. A negative passage
that holds one of the question's gold answers (normalised, as a substring) is skipped for the next one: there an
answer is not invented. SubjQA's dev_unanswerable questions, with their own review, are negatives as they are. Each
pair keeps the raw margin (best span score minus the [CLS] no-answer score, as QA decides on it) and the span, in
`pairs.jsonl` under `--out`, so any rule on them is swept offline.

`sweep` reads that file (and `end_to_end.json` when it is there) and prints, per rule and threshold, answerable
EM/F1 on the positives and unanswerable precision/recall/F1 (the positive class is "abstained"; the truth is every
negative and unanswerable pair). Questions are split into two folds by a seeded draw; each fold's operating point is
picked on the other, with the rule in `pick`.

`end-to-end` ingests every paragraph of QED dev and of the first `--limit` SQuADShifts Wikipedia questions as one
knowledge base per set with `slmesh.kb.index.ingest` (one text document per paragraph), retrieves with
`slmesh.kb.retrieval.Retriever` as the pipeline does, and runs QA over the given context and over each retrieved
passage, keeping every margin, so `sweep` scores both with any threshold; a sample is checked against
`QASkill.run` over the same passages.

`reports` prints QA's margin for each question on the two pages of issue 19's reports (a product page that prices only
the spare ear cushions, a passenger charter that names no chief executive), answerable questions on the same pages
beside them: a rule refuses the reports only if it can tell them apart.

`speed` measures ingest throughput (chunks/s through `ingest`, model load excluded) and retrieval latency (query
embedding + search, batch 1) on real chunks: every paragraph of every QA file in the shared data, chunked by
`slmesh.kb.chunking`.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from slmesh.config import default_models_dir
from slmesh.datasets_io import read_records
from slmesh.evaluation.squad import best_over_truths, normalize_answer

Kind = Literal["positive", "random", "hard", "unanswerable"]
NEGATIVE_KINDS: frozenset[str] = frozenset({"random", "hard", "unanswerable"})

ANSWERABLE = {"qed_nq_dev": "qa/qed_nq/dev.jsonl.gz", "subjqa_dev": "qa/subjqa/dev.jsonl"}
UNANSWERABLE = {"subjqa_dev_unanswerable": "qa/subjqa/dev_unanswerable.jsonl.gz"}
END_TO_END = {"qed_nq_dev": "qa/qed_nq/dev.jsonl.gz", "squadshifts_wiki": "qa/squadshifts_new_wiki/train.jsonl.gz"}
CARD_THRESHOLD = 5.87
"""The card's `null_threshold` before this study: tuned for F1 on given contexts."""
MAX_F1_DROP = 2.0
"""The operating point may cost answerable F1 at most this many points against the card's threshold."""
THRESHOLDS = tuple(round(t, 2) for t in np.arange(-2.0, 16.01, 0.25))


PRODUCT_PAGE = (
    "Aurora X2 wireless headphones. Spare ear cushions for the Aurora X2 cost 25 euros a pair and ship within two"
    " days. The headphones have 30 hours of battery life."
)
CHARTER = (
    "Our passenger charter sets out the standards of service you can expect. If you are unhappy with how we handled"
    " your complaint, you can escalate it to the Rail Ombudsman, who is independent of the rail industry. We aim to"
    " reply to every complaint within 20 working days."
)
REPORTS: tuple[tuple[str, str, bool], ...] = (
    ("How much do the Aurora X2 cost?", PRODUCT_PAGE, False),
    ("How much do spare ear cushions cost?", PRODUCT_PAGE, True),
    ("How long does the battery last?", PRODUCT_PAGE, True),
    ("Who is the chief executive?", CHARTER, False),
    ("Who can I escalate a complaint to?", CHARTER, True),
    ("How fast do they reply to complaints?", CHARTER, True),
)
"""Issue 19's two reports (answerable False) and questions the same pages do answer."""


def run_reports(args: argparse.Namespace) -> None:
    from slmesh.runtime import load_bundle
    from slmesh.skills.qa import QASkill

    skill = QASkill.from_bundle(load_bundle(args.models_dir / "qa", "qa", args.threads, verify=False))
    for (question, page, answerable), decoded in zip(
        REPORTS, skill.decode_batch([(q, page) for q, page, _ in REPORTS]), strict=True
    ):
        span = decoded.best
        margin = round(span.score - decoded.null_score, 2) if span else None
        answer = page[span.start : span.end] if span else None
        print(json.dumps({"question": question, "answerable": answerable, "span": answer, "margin": margin}))


# --- The pair set ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    qid: str
    kind: Kind
    source_set: str
    question: str
    context: str
    answers: tuple[str, ...]
    """The question's gold answers (empty for an unanswerable question)."""
    fold: int
    cosine: float | None = None
    """Cosine of question and passage by the served embedder (None when not computed)."""


@dataclass(frozen=True)
class Scored:
    """One pair after QA: what the sweep needs."""

    qid: str
    kind: str
    source_set: str
    answers: tuple[str, ...]
    fold: int
    margin: float
    """Best span score minus the no-answer score; -inf when no span was found."""
    answer: str
    cosine: float | None = None


def holds_answer(passage: str, answers: Sequence[str]) -> bool:
    text = f" {normalize_answer(passage)} "
    return any(n and f" {n} " in text for n in (normalize_answer(a) for a in answers))


def passage_pool(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """The distinct (title, context) of the rows, sorted: the passages negatives are drawn from."""
    return sorted({(r["title"], r["context"]) for r in rows})


def folds(qids: Sequence[str], seed: int) -> dict[str, int]:
    """Each question in fold 0 or 1, half each, by a seeded shuffle."""
    order = sorted(set(qids))
    rng = np.random.default_rng(seed)
    shuffled = [order[i] for i in rng.permutation(len(order))]
    return {q: i % 2 for i, q in enumerate(shuffled)}


def build_pairs(
    answerable: Sequence[dict[str, Any]],
    unanswerable: Sequence[dict[str, Any]],
    pool: Sequence[tuple[str, str]],
    similarity: np.ndarray | None,
    seed: int,
) -> list[Pair]:
    """Positives, random and hard negatives for each answerable row, and each unanswerable row as it is.

    Rows carry `set` besides the squad fields. `similarity` is (answerable rows, pool) question-passage cosines; no
    hard negatives when it is None. A negative is a pool passage of another title that holds no gold answer.
    """
    rng = np.random.default_rng(seed)
    fold = folds([r["id"] for r in [*answerable, *unanswerable]], seed)
    pairs: list[Pair] = []
    titles = np.array([t for t, _ in pool], dtype=object)
    where = {passage: j for j, passage in enumerate(pool)}
    for i, row in enumerate(answerable):
        answers = tuple(row["answers"]["text"])
        base = Pair(row["id"], "positive", row["set"], row["question"], row["context"], answers, fold[row["id"]])

        def eligible(j: int, row: dict[str, Any] = row, answers: tuple[str, ...] = answers) -> bool:
            return bool(titles[j] != row["title"]) and not holds_answer(pool[j][1], answers)

        cosine = None
        if similarity is not None:
            own = where.get((row["title"], row["context"]))
            cosine = float(similarity[i, own]) if own is not None else None
        pairs.append(replace(base, cosine=cosine))
        for j in rng.permutation(len(pool)):
            if eligible(int(j)):
                cos = float(similarity[i, j]) if similarity is not None else None
                pairs.append(replace(base, kind="random", context=pool[int(j)][1], cosine=cos))
                break
        if similarity is not None:
            for j in np.argsort(-similarity[i], kind="stable"):
                if eligible(int(j)):
                    pairs.append(replace(base, kind="hard", context=pool[int(j)][1], cosine=float(similarity[i, j])))
                    break
    for row in unanswerable:
        pairs.append(Pair(row["id"], "unanswerable", row["set"], row["question"], row["context"], (), fold[row["id"]]))
    return pairs


# --- Scoring and the sweep ------------------------------------------------------------------------------------------


def answered(margin: float, threshold: float) -> bool:
    return margin >= threshold


def score_rule(records: Sequence[Scored], threshold: float) -> dict[str, Any]:
    """Answerable EM/F1 over the positives (an abstention scores 0), unanswerable precision/recall/F1 with
    "abstained" as the positive class, and the mean per-pair F1 over every pair (an abstention on a negative is 1)."""
    em = f1 = overall = 0.0
    positives = should = abstained = right = 0
    for r in records:
        says = answered(r.margin, threshold)
        negative = r.kind in NEGATIVE_KINDS
        if negative:
            should += 1
            right += not says
            overall += not says
        else:
            positives += 1
            e, f = best_over_truths(r.answer if says else "", r.answers)
            em += e
            f1 += f
            overall += f
        abstained += not says
    precision = right / abstained if abstained else 1.0
    recall = right / should if should else 1.0
    return {
        "threshold": threshold,
        "answerable_em": round(100 * em / max(positives, 1), 2),
        "answerable_f1": round(100 * f1 / max(positives, 1), 2),
        "unanswerable_precision": round(100 * precision, 2),
        "unanswerable_recall": round(100 * recall, 2),
        "unanswerable_f1": round(200 * precision * recall / (precision + recall) if precision + recall else 0.0, 2),
        "overall_f1": round(100 * overall / max(len(records), 1), 2),
        "pairs": len(records),
    }


def pick(rows: Sequence[dict[str, Any]], baseline_f1: float, max_drop: float = MAX_F1_DROP) -> dict[str, Any]:
    """The operating point: the highest unanswerable F1 among thresholds whose answerable F1 is at most `max_drop`
    points under `baseline_f1`; ties go to the lower threshold (more answers)."""
    allowed = [r for r in rows if r["answerable_f1"] >= baseline_f1 - max_drop]
    return max(allowed, key=lambda r: (r["unanswerable_f1"], -r["threshold"]))


def sweep(records: Sequence[Scored], thresholds: Sequence[float] = THRESHOLDS) -> list[dict[str, Any]]:
    return [score_rule(records, t) for t in thresholds]


def two_fold(records: Sequence[Scored], thresholds: Sequence[float] = THRESHOLDS) -> dict[str, Any]:
    """Each fold's threshold picked on the other fold; the held-out scores at the picked and the card's threshold."""
    out: dict[str, Any] = {}
    for held in (0, 1):
        tune = [r for r in records if r.fold != held]
        test = [r for r in records if r.fold == held]
        baseline = score_rule(tune, CARD_THRESHOLD)["answerable_f1"]
        chosen = pick(sweep(tune, thresholds), baseline)["threshold"]
        out[f"fold{held}"] = {
            "picked_on_other_fold": chosen,
            "held_out_at_pick": score_rule(test, chosen),
            "held_out_at_card": score_rule(test, CARD_THRESHOLD),
        }
    return out


# --- Running QA -----------------------------------------------------------------------------------------------------


def _qa_skill(models_dir: Path, threads: int) -> Any:
    from slmesh.runtime import ModelStore
    from slmesh.skills.qa import QASkill

    store = ModelStore(models_dir, threads=threads)
    return store, QASkill.from_bundle(store.get("qa"))


def decode(skill: Any, pairs: Sequence[tuple[str, str]], batch: int = 16) -> list[tuple[float, str]]:
    """(margin, span text) per (question, context), the question read as `QASkill.run` reads it."""
    from slmesh.skills.qa import is_yes_no, question_focus

    out: list[tuple[float, str]] = []
    for start in range(0, len(pairs), batch):
        part = [(question_focus(q) if is_yes_no(q) else q, c) for q, c in pairs[start : start + batch]]
        for (_, context), d in zip(part, skill.decode_batch(part), strict=True):
            if d.best is None:
                out.append((float("-inf"), ""))
            else:
                out.append((d.best.score - d.null_score, context[d.best.start : d.best.end]))
    return out


def _rows(data_dir: Path, files: dict[str, str], limit: int | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, file in files.items():
        rows += [{**r, "set": name} for r in read_records(data_dir / file)[:limit]]
    return rows


def run_pairs(args: argparse.Namespace) -> None:
    from slmesh.embedding import Embedder

    answerable = _rows(args.data_dir, ANSWERABLE, args.limit)
    unanswerable = _rows(args.data_dir, UNANSWERABLE, args.limit)
    store, skill = _qa_skill(args.models_dir, args.threads)
    embedder = Embedder.load(store)
    pool = passage_pool([*answerable, *unanswerable])
    started = time.perf_counter()
    similarity = embedder.embed([r["question"] for r in answerable]) @ embedder.embed([c for _, c in pool]).T
    embed_s = time.perf_counter() - started
    pairs = build_pairs(answerable, unanswerable, pool, similarity, args.seed)
    started = time.perf_counter()
    found = decode(skill, [(p.question, p.context) for p in pairs])
    qa_s = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "pairs.jsonl").open("w") as handle:
        for p, (margin, answer) in zip(pairs, found, strict=True):
            s = Scored(p.qid, p.kind, p.source_set, p.answers, p.fold, margin, answer, p.cosine)
            handle.write(json.dumps(asdict(s)) + "\n")
    counts = {k: sum(p.kind == k for p in pairs) for k in ("positive", "random", "hard", "unanswerable")}
    print(json.dumps({"pairs": counts, "embed_s": round(embed_s, 1), "qa_s": round(qa_s, 1)}))


def load_scored(path: Path) -> list[Scored]:
    records = []
    for line in path.read_text().splitlines():
        raw = json.loads(line)
        records.append(Scored(**{**raw, "answers": tuple(raw["answers"])}))
    return records


# --- End to end -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retrieved:
    source: str
    score: float
    margin: float
    answer: str


@dataclass(frozen=True)
class Question:
    qid: str
    answers: tuple[str, ...]
    gold_source: str
    given_margin: float
    given_answer: str
    passages: tuple[Retrieved, ...]


def retrieved_answer(q: Question, threshold: float, min_score: float = -1.0) -> tuple[str, bool]:
    """What QA says over the retrieved passages, as `QASkill._from_passages` decides: the passage with the largest
    margin (among those scoring `min_score` or more) answers if its margin reaches `threshold`. (answer, answered)."""
    kept = [p for p in q.passages if p.score >= min_score]
    if not kept:
        return "", False
    best = max(kept, key=lambda p: p.margin)
    return (best.answer, True) if answered(best.margin, threshold) else ("", False)


def score_end_to_end(
    questions: Sequence[Question], threshold: float, given_threshold: float | None = None, min_score: float = -1.0
) -> dict[str, Any]:
    """EM/F1 with the given paragraph and with retrieved passages, and the invented-answer rate: among questions
    none of whose retrieved passages is a chunk of the gold paragraph, the share answered with F1 0 against gold."""
    n = max(len(questions), 1)
    given, retrieved = [0.0, 0.0], [0.0, 0.0]
    missing = invented = answered_missing = abstained = 0
    for q in questions:
        g = q.given_answer if answered(q.given_margin, given_threshold or threshold) else ""
        ge, gf = best_over_truths(g, q.answers)
        answer, says = retrieved_answer(q, threshold, min_score)
        re_, rf = best_over_truths(answer, q.answers)
        given = [given[0] + ge, given[1] + gf]
        retrieved = [retrieved[0] + re_, retrieved[1] + rf]
        abstained += not says
        if all(p.source != q.gold_source for p in q.passages):
            missing += 1
            answered_missing += says
            invented += says and rf == 0.0
    return {
        "threshold": threshold,
        "given_em": round(100 * given[0] / n, 2),
        "given_f1": round(100 * given[1] / n, 2),
        "retrieved_em": round(100 * retrieved[0] / n, 2),
        "retrieved_f1": round(100 * retrieved[1] / n, 2),
        "abstained": round(100 * abstained / n, 2),
        "gold_not_retrieved": missing,
        "answered_without_gold": answered_missing,
        "invented_rate": round(100 * invented / max(missing, 1), 2),
        "invented_of_answered": round(100 * invented / max(answered_missing, 1), 2),
    }


def run_end_to_end(args: argparse.Namespace) -> None:
    from slmesh.embedding import Embedder
    from slmesh.kb.index import ingest
    from slmesh.kb.retrieval import Retriever
    from slmesh.schemas import SkillTask

    store, skill = _qa_skill(args.models_dir, args.threads)
    embedder = Embedder.load(store)
    results: dict[str, Any] = {}
    for name, file in END_TO_END.items():
        indexed = read_records(args.data_dir / file)[: args.limit]
        paragraphs = sorted({r["context"] for r in indexed})
        rows = indexed[:: max(1, len(indexed) // args.questions)][: args.questions]
        number = {p: i for i, p in enumerate(paragraphs)}
        docs = args.out / f"docs-{name}"
        shutil.rmtree(docs, ignore_errors=True)
        docs.mkdir(parents=True)
        for i, p in enumerate(paragraphs):
            (docs / f"{i:05d}.txt").write_text(p + "\n")
        folder = args.out / f"kb-{name}"
        started = time.perf_counter()
        manifest = ingest([docs], embedder, folder)
        ingest_s = time.perf_counter() - started
        retriever = Retriever(folder, store, top_k=args.top_k, min_score=args.min_score)
        started = time.perf_counter()
        found = retriever.passages([r["question"] for r in rows])
        retrieve_s = time.perf_counter() - started
        flat = [(r["question"], p.text) for r, ps in zip(rows, found, strict=True) for p in ps]
        given = decode(skill, [(r["question"], r["context"]) for r in rows])
        decoded = iter(decode(skill, flat))
        questions = []
        for r, ps, (gm, ga) in zip(rows, found, given, strict=True):
            kept = tuple(Retrieved(p.source.path, p.source.score, *next(decoded)) for p in ps)
            gold = f"{number[r['context']]:05d}.txt"
            questions.append(Question(r["id"], tuple(r["answers"]["text"]), gold, gm, ga, kept))
        # The served path on a sample: QASkill.run over the same passages must say what the offline rule says.
        sample = list(range(0, len(rows), max(1, len(rows) // args.check)))[: args.check]
        tasks = [
            SkillTask(request_id="-", skill="qa", subject=rows[i]["question"], passages=found[i] or None)
            for i in sample
        ]
        served = skill.run(tasks)
        threshold = skill.settings.null_threshold
        agree = sum(
            (res.answer or "") == retrieved_answer(questions[i], threshold)[0]
            for i, res in zip(sample, served, strict=True)
        )
        results[name] = {
            "questions": [asdict(q) for q in questions],
            "paragraphs": len(paragraphs),
            "chunks": manifest.chunks,
            "ingest_chunks_per_s": round(manifest.chunks / ingest_s, 1),
            "retrieve_ms_per_question": round(1000 * retrieve_s / len(rows), 2),
            "served_check": {"sample": len(sample), "same_answer": agree, "threshold": threshold},
        }
        print(json.dumps({name: {k: v for k, v in results[name].items() if k != "questions"}}), flush=True)
    (args.out / "end_to_end.json").write_text(json.dumps(results))


def load_end_to_end(path: Path) -> dict[str, list[Question]]:
    raw = json.loads(path.read_text())
    return {
        name: [
            Question(
                q["qid"],
                tuple(q["answers"]),
                q["gold_source"],
                q["given_margin"],
                q["given_answer"],
                tuple(Retrieved(**p) for p in q["passages"]),
            )
            for q in body["questions"]
        ]
        for name, body in raw.items()
    }


# --- The sweep command ----------------------------------------------------------------------------------------------


def run_sweep(args: argparse.Namespace) -> None:
    records = load_scored(args.out / "pairs.jsonl")
    grid = [t for t in THRESHOLDS if args.low <= t <= args.high]
    populations = {
        "all": records,
        "given": [r for r in records if r.kind in {"positive", "random", "unanswerable"}],
        "retrieved": [r for r in records if r.kind in {"positive", "hard"}],
    }
    report: dict[str, Any] = {}
    for name, subset in populations.items():
        rows = sweep(subset, grid)
        baseline = score_rule(subset, CARD_THRESHOLD)
        report[name] = {
            "card": baseline,
            "picked_on_all": pick(rows, baseline["answerable_f1"]),
            "two_fold": two_fold(subset, grid),
            "by_kind_at_card": {
                k: score_rule([r for r in subset if r.kind in {"positive", k}], CARD_THRESHOLD)
                for k in sorted({r.kind for r in subset} & NEGATIVE_KINDS)
            },
            "sweep": rows if args.full else [r for r in rows if float(r["threshold"]).is_integer()],
        }
    e2e_path = args.out / "end_to_end.json"
    if e2e_path.is_file():
        e2e = load_end_to_end(e2e_path)
        report["end_to_end"] = {
            name: [score_end_to_end(qs, t, CARD_THRESHOLD) for t in args.end_to_end_thresholds]
            for name, qs in e2e.items()
        }
    print(json.dumps(report, indent=1))


# --- Speed ----------------------------------------------------------------------------------------------------------


def real_paragraphs(data_dir: Path) -> list[tuple[str, str]]:
    """(file name, paragraph) for every distinct paragraph of every QA file in the shared data, sorted."""
    found: set[tuple[str, str]] = set()
    for file in sorted((data_dir / "qa").glob("*/*.jsonl*")):
        name = f"{file.parent.name}-{file.name.split('.')[0]}"
        found |= {(name, r["context"]) for r in read_records(file)}
    return sorted(found)


def percentiles(samples_ms: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return round(statistics.median(ordered), 2), round(p95, 2)


def tiled(vectors: np.ndarray, n: int) -> np.ndarray:
    """The first `n` rows, the real rows repeated in order when there are fewer."""
    reps = -(-n // len(vectors))
    return np.ascontiguousarray(np.tile(vectors, (reps, 1))[:n])


def sample_documents(paragraphs: Sequence[tuple[str, str]], chunks: Sequence[int], size: int, seed: int) -> list[int]:
    """Paragraph numbers, in a seeded order, until their chunks reach `size` (all of them when there are fewer)."""
    order = np.random.default_rng(seed).permutation(len(paragraphs))
    taken, total = [], 0
    for i in order:
        if total >= size:
            break
        taken.append(int(i))
        total += chunks[int(i)]
    return sorted(taken)


def run_speed(args: argparse.Namespace) -> None:
    from slmesh.embedding import Embedder
    from slmesh.kb.chunking import chunk_text
    from slmesh.kb.index import KnowledgeBase, ingest
    from slmesh.kb.store import ExactStore
    from slmesh.runtime import ModelStore

    store = ModelStore(args.models_dir, threads=args.threads)
    embedder = Embedder.load(store)
    embedder.embed(["warm up"])
    paragraphs = real_paragraphs(args.data_dir)
    counts = [len(chunk_text(text, "x.txt")) for _, text in paragraphs]
    report: dict[str, Any] = {"threads": args.threads, "paragraphs": len(paragraphs), "real_chunks": sum(counts)}
    args.out.mkdir(parents=True, exist_ok=True)
    folder = args.out / "kb-speed"
    for size in args.ingest_sizes:
        docs = Path(tempfile.mkdtemp(prefix="slmesh-speed-", dir=args.out))
        try:
            for i in sample_documents(paragraphs, counts, size, args.seed):
                name, text = paragraphs[i]
                (docs / name).mkdir(exist_ok=True)
                (docs / name / f"{i:06d}.txt").write_text(text + "\n")
            started = time.perf_counter()
            manifest = ingest([docs], embedder, folder)
            seconds = time.perf_counter() - started
        finally:
            shutil.rmtree(docs, ignore_errors=True)
        report[f"ingest_{size}"] = {
            "chunks": manifest.chunks,
            "s": round(seconds, 1),
            "chunks_per_s": round(manifest.chunks / seconds, 1),
        }
        print(json.dumps({f"ingest_{size}": report[f"ingest_{size}"]}), flush=True)
    # Latency on the last index ingested; a size past its chunks repeats them in order.
    kb = KnowledgeBase.open(folder, embedder)
    vectors = np.load(folder / "vectors.npy")
    report["indexed_real_chunks"] = len(kb)
    queries = [r["question"] for r in read_records(args.data_dir / ANSWERABLE["qed_nq_dev"])][: args.queries]
    for size in args.sizes:
        stores: dict[str, Any] = {"exact": ExactStore(tiled(vectors, size))}
        if size >= args.hnsw_from:
            from slmesh.kb.ann import HnswStore

            started = time.perf_counter()
            stores["hnsw"] = HnswStore.build(tiled(vectors, size), threads=args.threads)
            report[f"hnsw_build_s_{size}"] = round(time.perf_counter() - started, 1)
            stores["hnsw"].threads = 1
        for kind, vs in stores.items():
            view = KnowledgeBase(folder, kb.manifest, [kb.chunks[i % len(kb)] for i in range(size)], vs, embedder)
            view.search(queries[0], 4)
            embed_ms, total_ms = [], []
            for q in queries:
                started = time.perf_counter()
                vector = embedder.embed([q])
                middle = time.perf_counter()
                vs.search(vector, 4)
                total_ms.append(1000 * (time.perf_counter() - started))
                embed_ms.append(1000 * (middle - started))
            report[f"{kind}_{size}"] = {
                "real": min(size, len(kb)),
                "p50_p95_ms": percentiles(total_ms),
                "search_p50_p95_ms": percentiles([t - e for t, e in zip(total_ms, embed_ms, strict=True)]),
                "embed_p50_p95_ms": percentiles(embed_ms),
            }
            print(json.dumps({f"{kind}_{size}": report[f"{kind}_{size}"]}), flush=True)
    print(json.dumps(report, indent=1))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help_text)
        p.add_argument("--out", type=Path, default=Path("build/grounding"), help="cache folder (not committed)")
        p.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
        p.add_argument("--models-dir", type=Path, default=default_models_dir())
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--seed", type=int, default=13)
        return p

    p = command("pairs", "build the negative-pair dev set and run QA once per pair")
    p.add_argument("--limit", type=int, default=None, help="the first N rows of each file (default: all)")
    p.set_defaults(handler=run_pairs)
    p = command("end-to-end", "QA over retrieved passages against QA over the given paragraph")
    p.add_argument("--limit", type=int, default=2000, help="the first N questions of each set: their paragraphs")
    p.add_argument("--top-k", type=int, default=4)
    p.add_argument("--min-score", type=float, default=0.35)
    p.add_argument("--questions", type=int, default=2000, help="questions asked per set, evenly spaced")
    p.add_argument("--check", type=int, default=40, help="questions also run through QASkill.run")
    p.set_defaults(handler=run_end_to_end)
    p = command("sweep", "score the cached margins at every threshold")
    p.add_argument("--low", type=float, default=-2.0)
    p.add_argument("--high", type=float, default=16.0)
    p.add_argument("--full", action="store_true", help="every threshold of the grid, not only whole ones")
    p.add_argument("--end-to-end-thresholds", type=float, nargs="+", default=[0.0, 2.0, 4.0, 5.87, 8.0, 10.0])
    p.set_defaults(handler=run_sweep)
    p = command("reports", "QA's margins on the pages of issue 19's two reports")
    p.set_defaults(handler=run_reports)
    p = command("speed", "ingest throughput and retrieval latency on real chunks")
    p.add_argument(
        "--ingest-sizes", type=int, nargs="+", default=[1000, 10000], help="chunks ingested; latency uses the last"
    )
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    p.add_argument("--hnsw-from", type=int, default=100000, help="also time the faiss HNSW store from this size")
    p.add_argument("--queries", type=int, default=300, help="QED dev questions timed at batch 1")
    p.set_defaults(handler=run_speed)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.handler(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
