"""GET /model carries the bundle's model card as Markdown."""


def test_model_returns_the_model_card(client, trained_bundle):
    body = client.get("/model").json()
    assert body["model_card"] == (trained_bundle / "model_card.md").read_text(encoding="utf-8")
    assert body["model_card"].startswith(f"# Model card: tweet-sentiment (run {trained_bundle.name})")
