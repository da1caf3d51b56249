// One decoding step (BartDecoder.step, then the LM head) as dependent stages of ONE parallel region (FlrCore
// Stages) instead of a fork/join per op: the products in column blocks (ColumnSplitLinear), attention per
// (row, head) or (run of an image's rows, head), residual + LayerNorm per row. Every value is computed by the
// same kernel on the same inputs as in the op-by-op step, so the logits are the same bits.
import FlrCore

/// A decoder layer's Linears, each cut into column blocks.
struct DecoderLayerLinears {
  let q: ColumnSplitLinear, k: ColumnSplitLinear, v: ColumnSplitLinear, selfOut: ColumnSplitLinear
  let crossQ: ColumnSplitLinear, crossOut: ColumnSplitLinear, fc1: ColumnSplitLinear, fc2: ColumnSplitLinear

  init?(_ layer: BartDecoderLayer) {
    guard let q = ColumnSplitLinear(layer.selfAttn.qProj), let k = ColumnSplitLinear(layer.selfAttn.kProj),
      let v = ColumnSplitLinear(layer.selfAttn.vProj), let selfOut = ColumnSplitLinear(layer.selfAttn.outProj),
      let crossQ = ColumnSplitLinear(layer.encoderAttn.qProj),
      let crossOut = ColumnSplitLinear(layer.encoderAttn.outProj), let fc1 = ColumnSplitLinear(layer.fc1),
      let fc2 = ColumnSplitLinear(layer.fc2)
    else { return nil }
    (self.q, self.k, self.v, self.selfOut, self.crossQ, self.crossOut, self.fc1, self.fc2) =
      (q, k, v, selfOut, crossQ, crossOut, fc1, fc2)
  }

  var all: [ColumnSplitLinear] { [q, k, v, selfOut, crossQ, crossOut, fc1, fc2] }
}

extension LanguageModel {
  /// Whether decoding steps run as one parallel region where they can (tests compare both ways).
  public nonisolated(unsafe) static var decodesInOneRegion = true

  /// Feeds one token per row (as decoder.step) and returns the logits [rows, V] (as logits(_:)), in one
  /// parallel region, ending with `eachRow(r, logits row r)` a row an item; nil when a Linear of the decoder or the
  /// head cannot be cut into column blocks for this many rows (an adapter, NF4, many rows): the caller then runs
  /// the step op by op. Nothing is changed then.
  func stagedStep(
    _ tokens: [Int32], state: inout DecoderState, eachRow: ((Int, UnsafeMutablePointer<Float>) -> Void)? = nil
  ) throws -> Tensor? {
    let rows = state.rows, workers = Threads.count
    guard Self.decodesInOneRegion, let head = ColumnSplitLinear(lmHead),
      let headBlocks = head.blocks(rows: rows, reducedBlocks: 4 * workers)
    else { return nil }
    var layers: [DecoderLayerLinears] = []
    var blocks: [Int] = []  // per Linear, in layer order and DecoderLayerLinears.all's order
    for layer in decoder.layers {
      guard let linears = DecoderLayerLinears(layer) else { return nil }
      for linear in linears.all {
        guard let b = linear.blocks(rows: rows, reducedBlocks: workers) else { return nil }
        blocks.append(b)
      }
      layers.append(linears)
    }
    guard state.length < decoder.embedPositions.maxPositions else {
      throw ModelError(
        file: "decoder",
        "position \(state.length) is past max_position_embeddings \(decoder.embedPositions.maxPositions)")
    }
    let position = state.length
    state.beginStep()
    let d = dim, ffn = layers.first?.fc1.outFeatures ?? 0
    // Activations of one layer [rows, d] (fc1's [rows, ffn]), reused by every layer: stages never overlap.
    let names = 10
    let buffers = Tensor(uninitialized: [names * rows * d + rows * ffn])
    let buffer = { (i: Int) in buffers.data + i * rows * d }
    let (q, attended, a, h1, cq, crossAttended, c, h2, f) =
      (buffer(0), buffer(1), buffer(2), buffer(3), buffer(4), buffer(5), buffer(6), buffer(7), buffer(8))
    let hidden = buffer(9), f1 = buffers.data + names * rows * d  // hidden: the embeddings, then each layer's output
    let context = StepContext(state: state, rows: rows, dim: d)
    var stages = Stages()
    // The embeddings (before their LayerNorm in q, which the first product overwrites), a run of rows per worker.
    let embedRuns = min(rows, workers), decoder = decoder, shared = shared
    stages.add(embedRuns, .embedding, bytes: 16 * rows * d) { run in
      tokens.withUnsafeBufferPointer {
        decoder.embedStep(
          $0.baseAddress!, rows: (run * rows / embedRuns)..<((run + 1) * rows / embedRuns), position: position,
          shared: shared, e: q, out: hidden)
      }
    }
    for (l, layer) in decoder.layers.enumerated() {
      let lin = layers[l], b = Array(blocks[(8 * l)..<(8 * l + 8)])
      let keysOut = state.selfKeys[l].data + state.length * state.slots * d
      let valuesOut = state.selfValues[l].data + state.length * state.slots * d
      Self.product(
        &stages, [(lin.q, b[0], q), (lin.k, b[1], keysOut), (lin.v, b[2], valuesOut)], rows: rows, inp: hidden)
      layer.selfAttentionStage(&stages, context, layer: l, q: q, out: attended)
      Self.product(&stages, [(lin.selfOut, b[3], a)], rows: rows, inp: attended)
      Self.residualNorm(&stages, layer.selfAttnLayerNorm, sum: a, residual: hidden, out: h1, rows: rows)
      Self.product(&stages, [(lin.crossQ, b[4], cq)], rows: rows, inp: h1)
      layer.crossAttentionStage(&stages, context, layer: l, q: cq, out: crossAttended)
      Self.product(&stages, [(lin.crossOut, b[5], c)], rows: rows, inp: crossAttended)
      Self.residualNorm(&stages, layer.encoderAttnLayerNorm, sum: c, residual: h1, out: h2, rows: rows)
      Self.product(&stages, [(lin.fc1, b[6], f1)], rows: rows, inp: h2, gelu: true)
      Self.product(&stages, [(lin.fc2, b[7], f)], rows: rows, inp: f1)
      Self.residualNorm(&stages, layer.finalLayerNorm, sum: f, residual: h2, out: hidden, rows: rows)
    }
    let logits = Tensor(uninitialized: [rows, vocabSize])
    let extra = finalLogitsBias
    Self.product(&stages, [(head, headBlocks, logits.data)], rows: rows, inp: hidden, addingBias: extra.data)
    if let eachRow {
      let v = vocabSize
      stages.add(rows, .search) { r in eachRow(r, logits.data + r * v) }
    }
    withExtendedLifetime((buffers, extra)) { stages.run() }
    state.length += 1
    return logits
  }

  /// One stage of the products `(linear, blocks, out)` of the same input, every block an item.
  static func product(
    _ stages: inout Stages, _ products: [(ColumnSplitLinear, Int, UnsafeMutablePointer<Float>)], rows: Int,
    inp: UnsafeMutablePointer<Float>, gelu: Bool = false, addingBias extra: UnsafeMutablePointer<Float>? = nil
  ) {
    var items: [(product: Int, block: Int)] = []
    var flops = 0, bytes = 0
    for (p, (linear, blocks, _)) in products.enumerated() {
      items += (0..<blocks).map { (p, $0) }
      let work = linear.work(rows: rows)
      flops += work.flops
      bytes += work.bytes
    }
    stages.add(items.count, products[0].0.kind, flops: flops, bytes: bytes) { i in
      let (p, block) = items[i]
      let (linear, blocks, out) = products[p]
      linear.forward(
        block: block, of: blocks, out: out, inp: inp, rows: rows, gelu: gelu,
        addingBias: extra.map { UnsafePointer($0) })
    }
  }

  /// sum += residual, then out = LN(sum) (BartDecoderLayer.step's addResidual + LayerNorm), the rows in one run
  /// per worker: a row is well under a microsecond of work, less than handing out an item.
  static func residualNorm(
    _ stages: inout Stages, _ norm: LayerNormLayer, sum: UnsafeMutablePointer<Float>,
    residual: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, rows: Int
  ) {
    let d = norm.dim, runs = min(rows, Threads.count)
    stages.add(runs, .layerNorm, flops: 9 * rows * d, bytes: 20 * rows * d) { run in
      let first = run * rows / runs, end = (run + 1) * rows / runs
      LayerNorm.forwardAddingResidual(
        out: out + first * d, sum: sum + first * d, residual: residual + first * d, weight: norm.weight.data,
        bias: norm.bias.data, rows: end - first, dim: d, eps: norm.eps)
    }
  }
}

/// What the attention stages read of the decoder state during one step (the state itself is inout).
struct StepContext {
  let selfKeys: [Tensor], selfValues: [Tensor], crossKeysT: [Tensor], crossValues: [Tensor]
  let selfOffsets: [Int]
  let imageOfRow: [Int], runs: [Range<Int>]
  let keyLength: Int, encoderLength: Int, crossCacheIsBF16: Bool
  let rows: Int, dim: Int

  init(state: DecoderState, rows: Int, dim: Int) {
    (selfKeys, selfValues, crossKeysT, crossValues) =
      (state.selfKeys, state.selfValues, state.crossKeysT, state.crossValues)
    selfOffsets = state.selfOffsets
    imageOfRow = state.imageOfRow
    runs = BartDecoderLayer.runs(state.imageOfRow)
    keyLength = state.length + 1
    encoderLength = state.encoderLength
    crossCacheIsBF16 = state.crossCacheIsBF16
    self.rows = rows
    self.dim = dim
  }
}

extension BartDecoderLayer {
  /// Self-attention of the new position, a (row, head) an item, against the cache (keys/values of this
  /// position already written by the k/v products).
  func selfAttentionStage(
    _ stages: inout Stages, _ context: StepContext, layer l: Int, q: UnsafeMutablePointer<Float>,
    out: UnsafeMutablePointer<Float>
  ) {
    let heads = selfAttn.heads, hd = selfAttn.headDim, d = context.dim, keyLength = context.keyLength
    let keys = context.selfKeys[l], values = context.selfValues[l], offsets = context.selfOffsets
    let scale = selfAttn.scale
    let scores = Tensor(uninitialized: [context.rows * heads * keyLength])
    stages.add(
      context.rows * heads, .attention, flops: 4 * context.rows * keyLength * d, bytes: 8 * context.rows * keyLength * d
    ) { rh in
      let r = rh / heads, c = (rh % heads) * hd
      offsets.withUnsafeBufferPointer { offsets in
        Attention.stepGathered(
          out: out + r * d + c, q: q + r * d + c, k: keys.data + c, v: values.data + c,
          rowOffsets: offsets.baseAddress! + r * keyLength, keyLength: keyLength, headDim: hd, scale: scale,
          scores: scores.data + rh * keyLength)
      }
    }
  }

  /// Cross-attention, a (run of one image's rows, head) an item, each key read once per run.
  func crossAttentionStage(
    _ stages: inout Stages, _ context: StepContext, layer l: Int, q: UnsafeMutablePointer<Float>,
    out: UnsafeMutablePointer<Float>
  ) {
    let heads = encoderAttn.heads, hd = encoderAttn.headDim, d = context.dim, s = context.encoderLength
    let keysT = context.crossKeysT[l], values = context.crossValues[l], runs = context.runs
    let imageOfRow = context.imageOfRow, padded = Attention.paddedLength(s), bf16 = context.crossCacheIsBF16
    let scale = encoderAttn.scale
    let scores = Tensor(uninitialized: [context.rows * heads * padded])
    let bytesPerValue = bf16 ? 2 : 4
    stages.add(
      runs.count * heads, .attention, flops: 4 * context.rows * s * d, bytes: bytesPerValue * 2 * runs.count * s * d
    ) { item in
      let run = runs[item / heads], head = item % heads, c = head * hd, image = imageOfRow[run.lowerBound]
      let keysAt = (image * heads + head) * hd * padded, valuesAt = (image * heads + head) * s * hd
      let o = out + run.lowerBound * d + c, query = q + run.lowerBound * d + c
      let scratch = scores.data + (run.lowerBound * heads + head * run.count) * padded
      if bf16 {
        Attention.stepSharedKeysBF16(
          out: o, outStride: d, q: query, qStride: d, queries: run.count,
          keysT: Attention.bf16Values(keysT) + keysAt, v: Attention.bf16Values(values) + valuesAt, vStride: hd,
          keyLength: s, headDim: hd, scale: scale, scores: scratch)
      } else {
        Attention.stepSharedKeys(
          out: o, outStride: d, q: query, qStride: d, queries: run.count, keysT: keysT.data + keysAt,
          v: values.data + valuesAt, vStride: hd, keyLength: s, headDim: hd, scale: scale, scores: scratch)
      }
    }
  }
}
