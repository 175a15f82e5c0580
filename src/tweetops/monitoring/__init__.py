"""Drift monitoring: recent predictions against the reference the training stage put in the bundle.

reference.py  what the model saw (written at training time into the bundle)
traffic.py    the current window: the prediction history database, or a file
drift.py      the statistics and their thresholds
report.py     drift.json and a self-contained drift.html
monitor.py    `tweetops monitor`: the verdict and its exit codes
notify.py     the job summary and the Slack message
"""
