"""The one road every message takes, as a chain of steps with one signature (road/message.py):

    parse → limits → translate in → dedupe → validate → map in → apply → route → render → persist

The HTTP API and the CLI both call `Pipeline.process_message` (road/pipeline.py), the runner.
"""

from adapter.road.message import Result
from adapter.road.pipeline import Pipeline

__all__ = ["Pipeline", "Result"]
