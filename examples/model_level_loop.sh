#!/usr/bin/env bash
# The model-level loop on a GPU: SFT data from an export -> a LoRA fine-tune of Llama-3.1-8B-Instruct ->
# lm-eval on the fusionbench_* tasks (test split) -> the fine-tuned model's rows ingested into the export.
#
#   bash examples/model_level_loop.sh EXPORT [perf|judge|hybrid|label-only] [TOP_K] [trl|llamafactory]
#
# Needs the sft extra for the TRL path (pip install "fusionbench[sft,harness]") or llamafactory-cli for the
# other, a GPU, and the base model (a Hub id needs network and the model's licence accepted; a local folder
# works too: BASE=/path/to/Llama-3.1-8B-Instruct). HUMANEVAL/MBPP point at the benchmarks' own files, whose
# reference solutions become the code tasks' ground-truth targets (without them those targets are skipped).
set -euo pipefail

EXPORT=${1:?usage: model_level_loop.sh EXPORT [select] [top_k] [trl|llamafactory]}
SELECT=${2:-perf}
TOP_K=${3:-5}
TRAINER=${4:-trl}
BASE=${BASE:-meta-llama/Llama-3.1-8B-Instruct}
WORK=${WORK:-runs/model_level_${SELECT}_top${TOP_K}}
HUMANEVAL=${HUMANEVAL:-HumanEval.jsonl}
MBPP=${MBPP:-mbpp.jsonl}
NAME=fusionbench_${SELECT//-/_}_top${TOP_K}
[ "$SELECT" = label-only ] && NAME=fusionbench_label_only
REFERENCES=()
for file in "$HUMANEVAL" "$MBPP"; do [ -f "$file" ] && REFERENCES+=("$file"); done

# 1. SFT data from the train split (the test split is refused), counted with the base model's tokenizer
fusionbench sft-data --data "$EXPORT" --select "$SELECT" --top-k "$TOP_K" --tokenizer "$BASE" \
    --max-tokens 2000 ${REFERENCES[@]:+--references "${REFERENCES[@]}"} --out "$WORK/sft" --overwrite

# 2. LoRA fine-tune: TRL's SFTTrainer + PEFT, or LLaMA-Factory with examples/sft_lora.yaml
if [ "$TRAINER" = llamafactory ]; then
    llamafactory-cli train examples/sft_lora.yaml model_name_or_path="$BASE" dataset="$NAME" \
        dataset_dir="$WORK/sft" output_dir="$WORK/adapter"
else
    fusionbench finetune --data "$WORK/sft" --model "$BASE" --out "$WORK/adapter" --dtype bfloat16 --overwrite
fi

# 3. evaluate the adapter on the test split with the model's chat template, as it was trained. GPQA is left out:
#    the release has no GPQA test queries, so fusionbench_gpqa falls back to the train split the model learnt.
TASKS=$(python -c "from fusionbench.schema import TASKS; print(','.join(f'fusionbench_{t}' for t in TASKS if t != 'gpqa'))")
fusionbench eval --model vllm \
    --model_args "pretrained=$BASE,lora_local_path=$WORK/adapter,max_lora_rank=8,dtype=bfloat16" \
    --tasks "$TASKS" --apply_chat_template --confirm_run_unsafe_code --log_samples \
    --output_path "$WORK/eval"
# without vLLM: --model hf --model_args "pretrained=$BASE,peft=$WORK/adapter,dtype=bfloat16"

# 4. the fine-tuned model's rows beside the 20 models
fusionbench ingest "$WORK/eval" --model "llama-3.1-8b-${NAME//_/-}-lora" --tokenizer "$BASE" --into "$EXPORT"
fusionbench info "$EXPORT" --by model
