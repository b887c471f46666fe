"""For providers that run a model on the gateway's own machine (a GGUF through llama.cpp, a
transformers checkpoint, an ONNX embedder): what every such provider does the same way, whatever the
engine. The engine itself (its token loop, its sampler, its tokenizer) stays in the plugin.

Modules (small, imported only by the plugins that need them)::

    supervisor.py  Supervisor: the model's worker process, restarted with backoff, calls over a pipe
    child.py       the worker process itself (``python -m hexgate.inproc``) and ChildWorker
    worker.py      events and chunks; Jobs: generations on threads (inside the worker process)
    stops.py       StopFilter: stop strings cut out of streamed text
    checks.py      request checks: tools/logprobs refused, n bounded, messages for a chat template,
                   sampling fields range-checked as OpenAI does
    embeddings.py  text inputs checked, fixed dimensions, float or base64 vectors
"""

from hexgate.inproc.checks import (
    SamplingFields,
    choices_wanted,
    refuse_tools_and_logprobs,
    sampling_fields,
    template_messages,
)
from hexgate.inproc.child import ChildWorker
from hexgate.inproc.embeddings import check_dimensions, encode_vectors, text_inputs
from hexgate.inproc.stops import StopFilter
from hexgate.inproc.supervisor import Supervisor
from hexgate.inproc.worker import Generated, Jobs, Outcome, Run, Sink, as_hexgate, run_choices

__all__ = [
    "ChildWorker",
    "Generated",
    "Jobs",
    "Outcome",
    "Run",
    "SamplingFields",
    "Sink",
    "StopFilter",
    "Supervisor",
    "as_hexgate",
    "check_dimensions",
    "choices_wanted",
    "encode_vectors",
    "refuse_tools_and_logprobs",
    "run_choices",
    "sampling_fields",
    "template_messages",
    "text_inputs",
]
