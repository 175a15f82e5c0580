"""The HTTP API, as the seed design runs it (`uvicorn api.main:app`): the app is built by the installed
package (tweetops.serving.app), so `pip install .` serves without this checkout; `tweetops serve`
runs the same app with one socket and one CPU per worker."""
from tweetops.serving.app import create_app

app = create_app()
