"""What `strop evolve quant` says about its choice, and keeps with its run for `strop report`.

The strongest baseline is one the --profile allows; the human output shows the chosen config and
how it was picked; an unusable --out is refused before the search, and outputs that cannot be
written at the end still leave the report printed; the run's report headlines the command's own
verdict, not the highest validation score among hundreds searched.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.console import Console

from agent.domains.quantization import search
from agent.domains.quantization.formats import PER_CHANNEL, Format, LayerGene
from agent.domains.quantization.search import (
    FrontPoint,
    Scored,
    SearchReport,
    SearchRequest,
    build_domain,
    hits_to_hex,
)
from agent.report import gather, render_html
from agent.report.plots import all_plots
from agent.run_index import RunIndex

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def _gene(bits: int) -> dict:
    return LayerGene.make(Format.INT_SYM, bits, PER_CHANNEL).to_json()


def _scored(test: float, bits: float, gene_bits: int = 4, **extra: object) -> Scored:
    hits = [True] * round(test * 100) + [False] * (100 - round(test * 100))
    return Scored(
        val_acc=test,
        test_acc=test,
        bytes=bits * 1000,
        avg_bits=bits,
        config=[_gene(gene_bits), _gene(gene_bits)],
        evaluations=1,
        hits=hits_to_hex(np.array(hits)),
        **extra,  # type: ignore[arg-type]
    )


def _report(forbidden_best: bool = True) -> SearchReport:
    chosen = replace(_scored(0.95, 3.9, 3), origin="search")
    return SearchReport(
        model="toy",
        layers=["fc1", "fc2"],
        budget_bits=4.5,
        profile="edge-int16",
        seed=0,
        fp32=_scored(0.99, 32.0, 8),
        chosen=chosen,
        baselines={
            "uniform_int4": _scored(0.99, 4.2, 4, feasible=not forbidden_best),
            "greedy": _scored(0.93, 4.0, 3),
        },
        front=[FrontPoint(0.97, 4000.0, 4.0, ["intsym4/ch", "intsym4/ch"])],
        engine={"evaluated": 700, "refined": 30},
        checks={
            "checked": 1,
            "repaired": 0,
            "rejected": 0,
            "evaluations_saved": 0,
            "accumulator_proofs": 0,
            "accumulator_overflows": 0,
        },
        outputs={"config": "/very/long/" + "folder-name-" * 12 + "/chosen_config.json"},
        pick="picked by the best validation accuracy, ties to the config closest to fp32",
    )


def test_the_strongest_baseline_is_one_the_profile_allows() -> None:
    report = _report(forbidden_best=True)
    margin = report.margin()
    assert margin is not None and margin["baseline"] == "greedy"  # uniform_int4 overflows: no bar
    assert report.to_json()["baselines"]["uniform_int4"]["feasible"] is False
    assert _report(forbidden_best=False).margin()["baseline"] == "uniform_int4"  # type: ignore[index]


def test_uniform_int4_is_not_allowed_on_an_int16_accumulator() -> None:
    domain = build_domain(SearchRequest(model="digits-cnn", budget_bits=6.0, profile="edge-int16"))
    int4 = tuple(LayerGene.make(Format.INT_SYM, 4, PER_CHANNEL) for _ in domain.space.layers)
    assert not search.profile_allows(domain, int4)
    generic = build_domain(SearchRequest(model="digits-cnn", budget_bits=6.0, profile="generic"))
    assert search.profile_allows(generic, int4)


def test_the_human_report_shows_the_chosen_config_how_it_was_picked_and_forbidden_rows() -> None:
    from agent.cli.quant import _print_report

    console = Console(record=True, width=120, force_terminal=True)
    _print_report(_report(), console)
    text = console.export_text()
    flat = " ".join(text.split())
    assert "chosen config: fc1: intsym3/ch, fc2: intsym3/ch" in flat
    assert "picked by the best validation accuracy" in flat
    assert "uniform_int4 (not allowed by --profile)" in flat
    assert "strongest baseline inside the budget: greedy" in flat
    path = _report().outputs["config"]
    assert path in text  # whole, on one line: copied from the terminal as it is


def test_an_unusable_out_is_refused_before_the_search(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("mine")
    for out, said in ((afile, "is a file, not a folder"), (afile / "sub", "is a file, not a folder")):
        started = time.time()
        done = cli("evolve", "quant", "--generations", "3", "--workers", "0", "--out", str(out))
        assert done.returncode == 2, done.stderr
        assert said in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Pareto" not in done.stdout and time.time() - started < 30
    assert afile.read_text() == "mine"


def test_outputs_that_cannot_be_written_still_print_the_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "chosen_config.json").mkdir(parents=True)  # passes the early check, fails at the end
    done = cli(
        "evolve", "quant", "--generations", "1", "--population", "6", "--workers", "0", "--no-baselines",
        "--out", str(out), "--json",
    )  # fmt: skip
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["outputs"] == {} and "nothing was written" in report["outputs_error"]
    assert "nothing was written" in done.stderr and "internal error" not in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["chosen_config.json"]  # no half-written file


def _facts(html: str) -> dict[str, str]:
    return dict(re.findall(r"<tr><td>([^<]*)</td><td[^>]*>(.*?)</td></tr>", html))


def test_the_run_report_headlines_the_commands_choice_not_the_best_validation_score(tmp_path: Path) -> None:
    done = cli(
        "evolve", "quant", "--model", "digits-mlp", "--budget-bits", "3.0", "--generations", "1",
        "--population", "6", "--workers", "0", "--seed", "0", "--baselines", "fast",
        "--out", str(tmp_path / "out"), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["chosen"]["origin"] == "search"  # this seed's pick: a config the engine found
    home = Path(os.environ["STROP_HOME"])
    data = gather(RunIndex(home), found["run"], home)
    assert data.best is not None  # the chosen config's experiment, whatever scored highest on validation
    config = subprocess.run(
        ["git", "show", f"{data.best.branch}:config.json"], cwd=data.run.repo, capture_output=True, text=True
    )
    assert json.loads(config.stdout)["config"] == found["chosen"]["config"]
    assert data.run.best == data.best.id
    facts = _facts(render_html(data, all_plots(data)))
    assert "best" not in facts and "better than" not in " ".join(facts.values())
    margin = found["strongest_baseline"]
    assert f"test {found['chosen']['test_acc']:.4f}" in facts["chosen (the command&#39;s pick)"]
    assert f"strongest baseline {margin['baseline']}" in facts["chosen (the command&#39;s pick)"]
    assert margin["verdict"] in facts["verdict"] and "selection score" in facts["validation scores"]
    assert facts["adopt"] == f"<code>strop adopt {data.best.name}</code> ({data.best.branch})"
    # every other view of the run's best names the same experiment: `strop log`, `strop runs`, RUN/best
    logged = json.loads(cli("log", found["run"], "--json").stdout)
    assert logged["best"] == data.best.id
    [listed] = [r for r in json.loads(cli("runs", "--json").stdout) if r["id"] == found["run"]]
    assert listed["best"]["id"] == data.best.id
    assert RunIndex(home).find_experiment(f"{found['run']}/best")[1].id == data.best.id


def test_a_chosen_baseline_config_has_nothing_to_adopt_in_the_report(tmp_path: Path) -> None:
    done = cli(
        "evolve", "quant", "--model", "digits-mlp", "--budget-bits", "2.5", "--generations", "0",
        "--population", "6", "--workers", "0", "--baselines", "fast", "--out", str(tmp_path / "out"), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["chosen"]["origin"].startswith("baseline ")
    home = Path(os.environ["STROP_HOME"])
    data = gather(RunIndex(home), found["run"], home)
    facts = _facts(render_html(data, all_plots(data)))
    assert facts["adopt"].startswith("nothing to adopt as a discovery: the chosen config is baseline ")
    assert "strop adopt" not in facts["adopt"] and data.failed_note() == ""
