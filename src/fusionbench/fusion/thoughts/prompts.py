"""FusionFactory's two thought-level prompts, quoted verbatim, and their SHA-256.

Both come from ulab-uiuc/FusionFactory (commit ef62645a48b9e2167201047da047854415e2bc89):

* the **summariser prompt** of ``thought_level/thought_template_gen.py`` (``generate_thought_template_prompt``),
  typos included ("appraoch", "prefered", the second "2."), each solution cut to 1,000 characters;
* the **thought prompt** of ``thought_level/get_thought_prompt.py`` (``process_query_chunk``): the retrieved
  questions and their templates, then the query, then the closing instruction. Its last sentence asks for
  ``<answer>`` tags, which no fusionbench scorer reads (multiple choice takes the last ``(X)``, MATH the last
  ``\\boxed{}``, code ``[BEGIN]...``), so it is off unless asked for; without it the prompt differs from
  FusionFactory's by exactly that sentence.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

FUSIONFACTORY_COMMIT = "ef62645a48b9e2167201047da047854415e2bc89"

# ---------------------------------------------------------------- summariser (thought_template_gen.py)
SUMMARIZER_HEAD = (
    "Given this question and example solutions, extract a concise thought template that captures the effective "
    "reasoning pattern and can serve as guidance:\n\nQuestion: {query}\n\nHere are {n} high-performing solutions:\n"
)
SUMMARIZER_SOLUTION = "Solution {i}:\n{response}\n\n"
SUMMARIZER_TAIL = (
    "Create a concise and clear thought template (1-5 sentences total) focusing on:\n\n"
    "1. Core Task Summarization: Identify the core problem type and general appraoch needed (in one very concise "
    "sentence)\n"
    "2. Reasoning Step: Give a clear chain of thought that can help model address this problem (1-3 sentences)\n"
    "2. Answer Template: What is the prefered answer format / structure for the given query (1 sentence) \n\n"
    "Your template should be specific enough to guide similar problems but general enough to work across "
    "variations. Use 1-2 sentences for straightforward problems and 3-5 sentences for complex ones.\n\n"
    "Thought Template:"
)
#: Solutions longer than this many characters are cut and marked.
SOLUTION_CHARS = 1000
TRUNCATION_MARK = "... [truncated]"
#: FusionFactory's sampling for the summariser: ``max_token_num`` 1024, temperature 0.2.
SUMMARIZER_MAX_TOKENS = 1024
SUMMARIZER_TEMPERATURE = 0.2

# ---------------------------------------------------------------- thought prompt (get_thought_prompt.py)
THOUGHT_HEAD = "Here are some similar questions and guidelines in how to solve them:\n\n"
THOUGHT_EXAMPLE = "Question{i}: {question}\n\nThought Template {i}: {template}\n\n"
THOUGHT_QUERY = "Now, please solve the following question:\n\n"
THOUGHT_TAIL = "\n\n Use the thought templates above as guidance. Reason step by step. And provide the final answer!"
ANSWER_TAGS_SENTENCE = " The final answer should be enclosed in <answer> and </answer> tags."


def _sha256(*pieces: str) -> str:
    return hashlib.sha256("\x00".join(pieces).encode("utf-8")).hexdigest()


#: SHA-256 of the summariser prompt's wording (its fixed pieces, NUL-joined): the templates table's prompt_hash.
SUMMARIZER_PROMPT_SHA256 = _sha256(SUMMARIZER_HEAD, SUMMARIZER_SOLUTION, SUMMARIZER_TAIL, TRUNCATION_MARK)
#: SHA-256 of the thought prompt's wording, with and without the ``<answer>`` sentence.
THOUGHT_PROMPT_SHA256 = {
    False: _sha256(THOUGHT_HEAD, THOUGHT_EXAMPLE, THOUGHT_QUERY, THOUGHT_TAIL),
    True: _sha256(THOUGHT_HEAD, THOUGHT_EXAMPLE, THOUGHT_QUERY, THOUGHT_TAIL + ANSWER_TAGS_SENTENCE),
}

_COT_TAIL = re.compile(r"\s*let's think step by step\.?\s*$", re.IGNORECASE)
_COT_TAIL_BOOLQ = re.compile(r"\s*let'?s think step by step\.?\s*$", re.IGNORECASE)


def summarizer_question(task: str, prompt: str) -> str:
    """The question text FusionFactory gives its summariser: the released query (a direct prompt) without a
    trailing "let's think step by step", stripped; for BoolQ with every run of white space made one space."""
    if task == "boolq":
        return _COT_TAIL_BOOLQ.sub("", re.sub(r"\s+", " ", prompt)).strip()
    return _COT_TAIL.sub("", prompt).strip()


def summarizer_prompt(question: str, solutions: Sequence[str]) -> str:
    """FusionFactory's summariser prompt for ``question`` and its top ``solutions``, byte for byte."""
    text = SUMMARIZER_HEAD.format(query=question, n=len(solutions))
    for i, solution in enumerate(solutions, 1):
        if len(solution) > SOLUTION_CHARS:
            solution = solution[:SOLUTION_CHARS] + TRUNCATION_MARK
        text += SUMMARIZER_SOLUTION.format(i=i, response=solution)
    return text + SUMMARIZER_TAIL


def thought_prompt(query: str, examples: Sequence[tuple[str, str]], *, answer_tags: bool = False) -> str:
    """FusionFactory's thought prompt: ``examples`` are (question, template) pairs, best first; ``query`` is the
    prompt of the query to solve (its own format instruction included). ``answer_tags`` adds the final
    ``<answer>``-tag sentence (then the text is FusionFactory's exactly)."""
    text = THOUGHT_HEAD
    for i, (question, template) in enumerate(examples, 1):
        text += THOUGHT_EXAMPLE.format(i=i, question=question, template=template)
    text += THOUGHT_QUERY + query + THOUGHT_TAIL
    return text + ANSWER_TAGS_SENTENCE if answer_tags else text
