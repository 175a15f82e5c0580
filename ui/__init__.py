"""The tweetops web UI (Streamlit) and its plain-Python helpers."""
