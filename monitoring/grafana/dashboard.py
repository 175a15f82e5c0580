"""The tweetops Grafana dashboard as code (grafana-foundation-sdk), written to dashboards/tweetops.json.

    python monitoring/grafana/dashboard.py            write the JSON
    python monitoring/grafana/dashboard.py --check    exit 1 when the committed JSON is not what this file builds

Importing this module has no side effects: tests and the Prometheus check use build() and panel_queries().
"""
import argparse
import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import common, piechart, prometheus, stat, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models.piechart import PieChartType
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef, Threshold, ThresholdsMode, ValueMap, ValueMappingResult)

# Fixed uid: provisioning/datasources/prometheus.yml creates the datasource under this same uid.
DATASOURCE_UID = "prometheus"
DATASOURCE = DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
OUTPUT = Path(__file__).resolve().parent / "dashboards" / "tweetops.json"
MONITOR_PERIOD_SECONDS = 86400  # the drift monitor runs daily (.github/workflows/monitor_and_retrain.yml)


def query(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> prometheus.Dataquery:
    target = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)
    return target.instant() if instant else target.range()


def thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    return dash.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
        [Threshold(value=value, color=color) for value, color in steps])


def series(title: str, unit: str, *targets: prometheus.Dataquery, width: int = 12,
           stacked: bool = False) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).targets(list(targets))
    panel = panel.span(width).height(8)
    if stacked:
        panel = panel.stacking(common.StackingConfig().mode(common_models.StackingMode.NORMAL)).fill_opacity(30)
    return panel


def single(title: str, target: prometheus.Dataquery, width: int = 6) -> stat.Panel:
    """A stat of the last value, one tile per series."""
    return (stat.Panel().title(title).datasource(DATASOURCE).with_target(target).span(width).height(8)
            .graph_mode(common_models.BigValueGraphMode.NONE)
            .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False)))


def build() -> dict:
    """The dashboard as a plain dict, panel ids numbered in order so the output is stable."""
    board = (
        dash.Dashboard("tweetops").uid("tweetops").tags(["tweetops"])
        .description("Serving traffic, predictions, the prediction history and drift of the tweetops API.")
        .time("now-6h", "now").refresh("30s").timezone("browser").readonly()

        .with_row(dash.Row("Traffic"))
        .with_panel(series("Requests per second by route", "reqps",
                           query("sum by (route) (tweetops:http_requests:rate5m)", "{{route}}")))
        .with_panel(series("Latency p50 and p99 by route", "s",
                           query("tweetops:http_request_duration_seconds:p50_5m", "p50 {{route}}", "A"),
                           query("tweetops:http_request_duration_seconds:p99_5m", "p99 {{route}}", "B")))
        # The recording rule is 0, not absent, when there are no 5xx: the panel never reads "No data".
        .with_panel(series("Error ratio (5xx)", "percentunit",
                           query("tweetops:http_errors:ratio_rate5m", "5xx share"))
                    .min(0).thresholds(thresholds((None, "green"), (0.01, "red"))))
        .with_panel(series("Requests per second by status", "reqps",
                           query("sum by (status) (tweetops:http_requests:rate5m)", "{{status}}"), stacked=True))

        .with_row(dash.Row("Predictions"))
        .with_panel(series("Predictions per second by label", "reqps",
                           query("tweetops:predictions:rate5m", "{{label}}"), stacked=True))
        .with_panel(piechart.Panel().title("Prediction mix (last hour)").datasource(DATASOURCE).unit("percentunit")
                    .with_target(query("tweetops:predictions:share1h", "{{label}}", instant=True))
                    .pie_type(PieChartType.DONUT).span(6).height(8)
                    .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False)))
        # The version is a label, not a value: the tile shows the series name, i.e. the legend.
        .with_panel(single("Model version served", query("max by (version) (tweetops_model_info)", "{{version}}",
                                                         instant=True))
                    .text_mode(common_models.BigValueTextMode.NAME).color_mode(common_models.BigValueColorMode.NONE))

        .with_row(dash.Row("Prediction history"))
        .with_panel(series("History backlog (journal not yet shipped)", "bytes",
                           query("tweetops_history_backlog_bytes", "{{instance}}")))
        .with_panel(series("Quarantined history records", "short",
                           query("tweetops_history_quarantined_records", "{{instance}}"))
                    .thresholds(thresholds((None, "green"), (1, "red"))))

        .with_row(dash.Row("Drift"))
        # max(): one tile, whatever model_version label the last push carried.
        .with_panel(single("Drift verdict", query("max(tweetops_drift_detected)", "drift", instant=True))
                    .mappings([ValueMap(options={
                        "0": ValueMappingResult(text="no drift", color="green", index=0),
                        "1": ValueMappingResult(text="drift", color="red", index=1)})])
                    .color_mode(common_models.BigValueColorMode.BACKGROUND))
        .with_panel(series("Drift check values by check", "short",
                           query("tweetops_drift_check_value", "{{check}}")))
        .with_panel(single("Time since the last monitor run",
                           query("time() - max(tweetops_monitor_last_run_timestamp_seconds)", "since last run",
                                 instant=True))
                    .unit("s").thresholds(thresholds((None, "green"), (MONITOR_PERIOD_SECONDS + 7200, "red"))))
    )
    model = board.build()
    for number, panel in enumerate(model.panels, start=1):
        panel.id_val = number
    return json.loads(json.dumps(model, cls=JSONEncoder))


def render(board: dict) -> str:
    return json.dumps(board, indent=2, sort_keys=True) + "\n"


def panels(board: dict) -> list[dict]:
    """Every panel, rows included, with those nested in collapsed rows."""
    found = []
    for panel in board.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def panel_queries(board: dict) -> list[tuple[str, str]]:
    """(panel title, PromQL expr) for every target of every panel."""
    return [(panel.get("title", ""), target.get("expr", ""))
            for panel in panels(board) for target in panel.get("targets", [])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the file instead of writing it")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the dashboard JSON (default: %(default)s)")
    args = parser.parse_args(argv)
    text = render(build())
    if not args.check:
        args.output.write_text(text, encoding="utf-8")
        return 0
    if not args.output.is_file() or args.output.read_text(encoding="utf-8") != text:
        print(f"{args.output} is not what monitoring/grafana/dashboard.py generates: "
              "run python monitoring/grafana/dashboard.py and commit the result.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
