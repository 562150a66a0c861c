"""Text generation backends behind one Protocol (:class:`rlscope.llm.base.Sampler`)."""

from rlscope.llm.base import Completion, SampleRequest, Sampler, SamplingParams, get_sampler, sample_seed

__all__ = ["Completion", "SampleRequest", "Sampler", "SamplingParams", "get_sampler", "sample_seed"]
