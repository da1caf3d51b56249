// `save`: write an adapter in PEFT's layout, or (`save model DIR`) the whole model with the active adapter
// merged in, as a snapshot folder (AdapterActions.save / saveModel).

enum SaveCommand {
  static let command = Command(
    "save", group: .adapters, summary: "Save an adapter in PEFT's layout, or `save model DIR` the merged model",
    positionals: PositionalSpec(
      "[NAME] DIR", .string, minimum: 1, maximum: 2,
      "adapter name (default: active) and folder (`save model DIR`: the word model, then a folder)",
      namesAdapters: true),
    options: [
      OptionSpec(
        "naming", .choice(["original", "native"]), default: .string("original"),
        "Adapter key names: the remote-code model's (original) or transformers' native Florence2"),
      OptionSpec(
        "dtype", .choice(["fp32", "bf16", "fp16"]), default: .string("fp32"),
        "File precision, rounded to nearest even as torch (adapters: any; save model: fp32 or bf16)"),
      .flag(
        "state", settable: false,
        "Also write the run's optimizer state and position (same atomic unit) so `train resume` continues"),
      .flag(
        "quantized", settable: false, "save model: NF4 Linears in bitsandbytes' 4-bit layout (quantize=nf4 models)"),
      .flag("overwrite", settable: false, "Replace an adapter already in DIR (save model: an existing DIR)"),
    ],
    examples: [
      "save loras/mine", "save mylora loras/mine naming=native", "save loras/mine dtype=bf16", "save model merged/",
      "save model q4/ quantized", "save model half/ dtype=bf16",
    ],
    details: """
      Nothing is replaced without `overwrite`: a DIR that already holds an adapter (adapter_config.json, \
      adapter_model.safetensors or .bin) is refused, as `save model` refuses an existing DIR. \
      An adapter folder gets adapter_config.json and adapter_model.safetensors, written together as one unit \
      (a temporary folder renamed into place): a failed or interrupted save leaves the previous adapter as it \
      was, and other files in the folder (training logs, checkpoints) stay, except a training state an earlier \
      `save DIR state` left there (trainer_state.json, optimizer.safetensors): a save without `state` removes \
      it in the same unit, since `train resume` would otherwise continue from a state that is not this adapter's.
      Which weights: an adapter trained in this session is written with the weights meant for use, as its run's \
      own saves write them (with train sf_save=inplace those follow the reference script instead; `save` does not). \
      dtype=bf16 or fp16 halves the file: each weight is rounded to nearest even, as torch's `.to(dtype)` does \
      (the reference script's adapters are bf16); `load adapter=` reads any of the three. The resident adapter \
      stays fp32, and a training state (`state`) needs fp32 weights, so `state` takes dtype=fp32 only. For \
      optimizer=prodigy-sf (schedule-free) these are the averaged weights \
      x = lerp(y, z, 1 - 1/beta1), computed beside training as the schedule-free authors recommend; the resident \
      training iterate y is left bit for bit as it was, so a later `train resume` continues exactly as if no save \
      had happened (`sample`, `compare`, `caption`, `eval` and `save model` use the same averaged weights). Other \
      optimizers' weights are the resident ones. A loaded or untrained adapter is written as it is.
      With `state` the folder also gets trainer_state.json and optimizer.safetensors (options, position, \
      optimizer state and the training values y), in the same unit as the adapter: a crash or a full disk \
      leaves the complete old adapter with its old state, or the complete new ones. `load adapter=DIR` then \
      `train resume` continues the run in a new process.
      `save model DIR` writes model.safetensors in the original (microsoft remote-code) naming with the active \
      adapter folded into the weights it wraps (as `merge` folds it; the resident model is not changed), or the \
      base model when none is active (a merged adapter is already in the base). config.json is the loaded \
      model's own file; the tokenizer, processor and generation files and any remote-code .py files of the \
      folder the model came from are copied. The folder is built beside DIR and renamed into place; an existing \
      DIR is replaced only with `overwrite`. Weights are fp32 (a model loaded with quantize=nf4 is written \
      dequantized unless `quantized`; one loaded with precision=bf16/int8 as its weights decoded), or bf16 \
      with `dtype=bf16` (config.json's torch_dtype set to bfloat16). With `quantized`, every NF4 Linear is written as transformers writes \
      bitsandbytes 4-bit weights (weight codes, absmax, quant_map, nested_absmax, nested_quant_map, \
      quant_state.bitsandbytes__nf4) and config.json gets a quantization_config (nf4, double quant, compute \
      dtype float32 as flr computes). An active adapter is refused there: PEFT would dequantize, add and \
      requantize, writing 4-bit weights that are not the ones flr computes with.
      """,
    run: { arguments, session in try AdapterActions.save(arguments, session) })
}
