// The tensors `save model` writes: the model's state dict in the original (remote-code, microsoft) key naming,
// as the remote code's save_pretrained leaves it (tied embeddings once, as `language_model.model.shared.weight`,
// unless an lm_head LoRA unties the head;
// final_logits_bias and the visual_temporal_embed table included, since microsoft's files hold them). What the
// model computes now is what is written: an attached (active) LoRA adapter is folded into each weight it wraps
// as `merge` would fold it (same GEMM, same rounding) without touching the resident model; an adapter already
// merged is already in the base weights. NF4 Linears are written in bitsandbytes' serialized layout when
// `quantized`, else dequantized to fp32.
import FlrCheckpoints
import FlrCore

/// What `exportEntries` found while listing the tensors.
public struct ModelTensorsSummary: Sendable {
  public var mergedModules = 0  // LoRA layers folded into their base weight
  public var quantizedLayers = 0  // NF4 Linears written as bitsandbytes 4-bit
  public var dequantizedLayers = 0  // NF4 Linears written as fp32
  /// lm_head written as a weight of its own (an lm_head LoRA folded in, or a head untied before).
  public var untiedHead = false
}

extension Florence2 {
  /// The safetensors entries of the whole model (bytes produced one tensor at a time by the writer).
  /// `quantized` requires every Linear to be NF4 and no adapter attached (flr does not requantize a merge).
  public func exportEntries(quantized: Bool) throws -> (entries: [SafetensorsEntry], summary: ModelTensorsSummary) {
    var entries: [SafetensorsEntry] = []
    var summary = ModelTensorsSummary()
    func add(_ name: String, _ t: Tensor) { entries.append(.float(name, t)) }

    for entry in namedModules() {
      switch entry.kind {
      case .linear(let slot):
        if entry.path == Self.lmHeadPath { continue }  // with the embeddings, below
        let layer = slot.get()
        let lora = layer as? LoRALinear
        let base = lora?.base ?? layer
        if let bias = base.bias { add(entry.path + ".bias", bias) }
        if let q = base as? NF4LinearLayer, quantized {
          guard lora == nil else {
            throw ModelError(
              file: entry.path,
              "an adapter is active on this NF4 layer; flr does not requantize a merged weight (see `save model`)")
          }
          entries += nf4Entries(entry.path + ".weight", q)
          summary.quantizedLayers += 1
          continue
        }
        guard !quantized else {
          throw ModelError(
            file: entry.path, "is not NF4; `save model … quantized` needs a model loaded with quantize=nf4")
        }
        if base is NF4LinearLayer { summary.dequantizedLayers += 1 }
        if lora != nil { summary.mergedModules += 1 }
        entries.append(linearWeight(entry.path + ".weight", base: base, lora: lora?.lora))
      case .conv2d(let slot):
        let layer = slot.get()
        let lora = layer as? LoRAConv2d
        let base = lora?.base ?? layer
        add(entry.path + ".bias", base.bias)
        let weight = (base as? BF16Conv2dLayer)?.decodedWeight ?? base.weight
        if let p = lora?.lora {
          summary.mergedModules += 1
          let rows = base.outChannels, cols = base.inChannels * base.kernel * base.kernel
          entries.append(
            SafetensorsEntry(name: entry.path + ".weight", dtype: .f32, shape: weight.shape) { out in
              let w = out.assumingMemoryBound(to: Float.self)
              w.update(from: weight.data, count: weight.count)
              // W [out, in·k·k] += s · B [out, r] · A [r, in·k·k]  (LoRAConv2d.foldIntoBase)
              Gemm.matmul(p.loraB.data, p.loraA.data, w, m: rows, n: cols, k: p.rank, alpha: p.scaling, beta: 1)
            })
        } else {
          add(entry.path + ".weight", weight)
        }
      case .other:
        break
      }
    }

    // Every other tensor (norms, embeddings, depthwise convs, image_projection, buffers), as the modules bound
    // them; `shared` among them.
    for (key, tensor) in modules.tensors { add(key, tensor) }

    let lm = languageModel
    // lm_head: tied and unadapted, it is `shared` (written once, as the remote code's save_pretrained does).
    // An active lm_head LoRA or a merged one unties it: its own weight (+ s·B·A), `shared` unchanged, and
    // config.json says tie_word_embeddings false (ModelExport) so loaders do not tie it back. That flag unties
    // the encoder's and decoder's embed_tokens from `shared` as well (transformers 5 and the remote code both
    // tie all three only when it is true; lmhead.py saw them left random otherwise), so they are written too.
    let headLoRA = lm.lmHead as? LoRALinear
    if headLoRA != nil || !lm.isTied {
      if headLoRA != nil { summary.mergedModules += 1 }
      summary.untiedHead = true
      entries.append(linearWeight(Self.lmHeadPath + ".weight", base: lm.lmHeadBase, lora: headLoRA?.lora))
      add(CheckpointNaming.tiedEmbeddingNames[1], lm.shared)  // encoder.embed_tokens
      add(CheckpointNaming.tiedEmbeddingNames[2], lm.shared)  // decoder.embed_tokens
    }
    return (entries, summary)
  }
}

/// W [out, in] as fp32: the plain weight or the dequantized NF4 one, plus s·B·A when a LoRA layer wraps it
/// (LoRALinear.foldIntoBase's GEMM, so the file holds exactly what `merge` would leave in memory).
private func linearWeight(_ name: String, base: LinearLayer, lora: LoRAParameters?) -> SafetensorsEntry {
  SafetensorsEntry(name: name, dtype: .f32, shape: [base.outFeatures, base.inFeatures]) { out in
    let w = out.assumingMemoryBound(to: Float.self)
    if let q = base as? NF4LinearLayer {
      q.quantized.dequantizeFast(into: w)
    } else if let h = base as? BF16LinearLayer {
      h.stored.decodeRows(0..<base.outFeatures, into: w)
    } else if let q = base as? Int8LinearLayer {
      q.stored.decodeRows(0..<base.outFeatures, into: w)
    } else {
      w.update(from: base.weight.data, count: base.weight.count)
    }
    if let p = lora {
      Gemm.matmul(
        p.loraB.data, p.loraA.data, w, m: base.outFeatures, n: base.inFeatures, k: p.rank, alpha: p.scaling, beta: 1)
    }
  }
}

/// bitsandbytes' Linear4bit state-dict entries for `key` (`<key>` packed codes, then QuantState.as_dict(packed=True)).
private func nf4Entries(_ key: String, _ layer: NF4LinearLayer) -> [SafetensorsEntry] {
  // quant_state's dtype is what dequantize_4bit returns. flr's weights are NF4[code]·absmax in fp32 and it
  // computes in fp32, so "float32" (not the checkpoint's bf16/fp16) makes a loader compute what flr computes.
  let s = layer.quantized.serialized(dtype: "float32")
  let suffix = NF4Serialized.suffixes  // absmax, quant_map, nested_absmax, nested_quant_map, quant_state…
  return [
    .bytes(key, s.weight, shape: s.weightShape),
    .bytes(key + "." + suffix[0], s.absmax, shape: [s.absmax.count]),
    .floats(key + "." + suffix[1], s.quantMap, shape: [s.quantMap.count]),
    .floats(key + "." + suffix[2], s.nestedAbsmax, shape: [s.nestedAbsmax.count]),
    .floats(key + "." + suffix[3], s.nestedQuantMap, shape: [s.nestedQuantMap.count]),
    .bytes(key + "." + suffix[4], s.quantState, shape: [s.quantState.count]),
  ]
}
