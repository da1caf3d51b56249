// Time of each core op, forward and backward, on Florence-2 base shapes (DaViT stage 1 at 768x768:
// 192x192 tokens of 128 channels; BART base: 600 tokens of 768, 12 heads).
import FlrCore

let opsSuite = BenchSuite(name: "ops", summary: "core ops on Florence-2 base shapes (GB/s for elementwise)") {
  let n1 = 192 * 192, c1 = 128  // DaViT stage 1
  let t = 600, d = 768, heads = 12  // BART encoder

  // Elementwise: bytes moved = 4 · (inputs + outputs) · count.
  let big = n1 * c1
  let a = Bench.random([big]), b = Bench.random([big], seed: 2), o = Tensor(zeros: [big])
  Bench.measure("add", shape: "[36864,128]", bytes: 12.0 * Double(big)) {
    Elementwise.add(out: o.data, a: a.data, b: b.data, count: big)
  }
  Bench.measure("addInPlace", shape: "[36864,128]", bytes: 12.0 * Double(big)) {
    Elementwise.addInPlace(o.data, a.data, count: big)
  }
  Bench.measure("scale", shape: "[36864,128]", bytes: 8.0 * Double(big)) {
    Elementwise.scale(out: o.data, inp: a.data, by: 0.5, count: big)
  }
  let hidden = n1 * 4 * c1
  let h = Bench.random([hidden]), ho = Tensor(zeros: [hidden]), hg = Tensor(zeros: [hidden])
  Bench.measure("gelu", shape: "[36864,512]", bytes: 8.0 * Double(hidden)) {
    Gelu.forward(out: ho.data, inp: h.data, count: hidden)
  }
  Bench.measure("gelu backward", shape: "[36864,512]", bytes: 16.0 * Double(hidden)) {
    Gelu.backward(dinp: hg.data, dout: ho.data, inp: h.data, count: hidden)
  }

  // LayerNorm on DaViT stage 1 and BART.
  for (rows, dim) in [(n1, c1), (t, d)] {
    let x = Bench.random([rows, dim]), y = Tensor(zeros: [rows, dim]), w = Bench.random([dim]),
      bias = Bench.random([dim])
    let mean = Tensor(zeros: [rows]), rstd = Tensor(zeros: [rows]), dx = Tensor(zeros: [rows, dim])
    let dw = Tensor(zeros: [dim]), db = Tensor(zeros: [dim])
    Bench.measure("layernorm", shape: "[\(rows),\(dim)]", bytes: 8.0 * Double(rows * dim)) {
      LayerNorm.forward(
        out: y.data, mean: mean.data, rstd: rstd.data, inp: x.data, weight: w.data, bias: bias.data, rows: rows,
        dim: dim, eps: 1e-5)
    }
    Bench.measure("layernorm backward", shape: "[\(rows),\(dim)]", bytes: 12.0 * Double(rows * dim)) {
      LayerNorm.backward(
        dinp: dx.data, dweight: dw.data, dbias: db.data, dout: y.data, inp: x.data, mean: mean.data, rstd: rstd.data,
        weight: w.data, rows: rows, dim: dim)
    }
  }

  // Convolutions: the stage-1 patch embedding (7x7/4 from RGB) and the stage-1→2 downsample (3x3/2).
  for (hw, cin, cout, k, s, p) in [(768, 3, 128, 7, 4, 3), (192, 128, 256, 3, 2, 1)] {
    let ho = Conv2d.outputSize(hw, kernel: k, stride: s, padding: p)
    let x = Bench.random([1, hw, hw, cin]), w = Bench.random([cout, cin, k, k]), bias = Bench.random([cout])
    let y = Tensor(zeros: [1, ho, ho, cout])
    Bench.measure(
      "conv \(k)x\(k)/\(s)", shape: "\(hw)²x\(cin)→\(ho)²x\(cout)", flops: 2.0 * Double(ho * ho * cout * cin * k * k)
    ) {
      Conv2d.forward(
        out: y.data, inp: x.data, weight: w.data, bias: bias.data, batch: 1, height: hw, width: hw, inChannels: cin,
        outChannels: cout, kernel: k, stride: s, padding: p)
    }
    let dw = Tensor(zeros: [cout, cin, k, k])
    Bench.measure(
      "conv \(k)x\(k)/\(s) backward dweight", shape: "\(hw)²x\(cin)→\(ho)²x\(cout)",
      flops: 2.0 * Double(ho * ho * cout * cin * k * k)
    ) {
      Conv2d.backward(
        dinp: nil, dweight: dw.data, dbias: nil, dout: y.data, inp: x.data, weight: w.data, batch: 1, height: hw,
        width: hw, inChannels: cin, outChannels: cout, kernel: k, stride: s, padding: p)
    }
  }
  do {
    let x = Bench.random([1, 192, 192, c1]), w = Bench.random([c1, 1, 3, 3]), bias = Bench.random([c1])
    let y = Tensor(zeros: [1, 192, 192, c1]), dx = Tensor(zeros: [1, 192, 192, c1]), dw = Tensor(zeros: [c1, 1, 3, 3])
    Bench.measure("depthwise 3x3", shape: "192²x128", bytes: 8.0 * Double(big)) {
      DepthwiseConv2d.forward(
        out: y.data, inp: x.data, weight: w.data, bias: bias.data, batch: 1, height: 192, width: 192, channels: c1)
    }
    Bench.measure("depthwise 3x3 backward", shape: "192²x128", bytes: 16.0 * Double(big)) {
      DepthwiseConv2d.backward(
        dinp: dx.data, dweight: dw.data, dbias: nil, dout: y.data, inp: x.data, weight: w.data, batch: 1, height: 192,
        width: 192, channels: c1)
    }
  }

  // Attention: DaViT stage-1 windows (256 windows of 12x12 tokens, 4 heads of 32) and the BART encoder.
  for (batch, tokens, nh, hd) in [(256, 144, 4, 32), (1, t, heads, d / heads)] {
    let c = nh * hd
    let qkv = Bench.random([batch, tokens, 3 * c]), out = Tensor(zeros: [batch, tokens, c])
    let probs = Tensor(zeros: [batch, nh, tokens, tokens]), dqkv = Tensor(zeros: [batch, tokens, 3 * c])
    let flops = 4.0 * Double(batch * nh * tokens * tokens * hd)
    let shape = "B=\(batch) T=\(tokens) H=\(nh) hd=\(hd)"
    Bench.measure("attention", shape: shape, flops: flops) {
      Attention.forward(
        out: out.data, outStride: c, probs: probs.data, q: qkv.data, qStride: 3 * c, k: qkv.data + c, kStride: 3 * c,
        v: qkv.data + 2 * c, vStride: 3 * c, batch: batch, heads: nh, queryLength: tokens, keyLength: tokens,
        headDim: hd, scale: 0.125)
    }
    Bench.measure("attention backward", shape: shape, flops: 2 * flops) {
      Attention.backward(
        dq: dqkv.data, dk: dqkv.data + c, dv: dqkv.data + 2 * c, dout: out.data, outStride: c, probs: probs.data,
        q: qkv.data, qStride: 3 * c, k: qkv.data + c, kStride: 3 * c, v: qkv.data + 2 * c, vStride: 3 * c, batch: batch,
        heads: nh, queryLength: tokens, keyLength: tokens, headDim: hd, scale: 0.125)
    }
  }
  do {  // one decoder step against a 600-token cache (self-attention, 12 heads)
    let q = Bench.random([1, d]), kv = Bench.random([t, 2 * d]), out = Tensor(zeros: [1, d]),
      probs = Tensor(zeros: [heads, t])
    Bench.measure("attention decode step", shape: "Tq=1 Tk=\(t) H=12", bytes: 8.0 * Double(t * d)) {
      Attention.forward(
        out: out.data, outStride: d, probs: probs.data, q: q.data, qStride: d, k: kv.data, kStride: 2 * d,
        v: kv.data + d, vStride: 2 * d, batch: 1, heads: heads, queryLength: 1, keyLength: t, headDim: 64, scale: 0.125,
        causal: true, causalOffset: t - 1)
    }
  }

  // Cross-attention of one decoding step: 6 layers x 12 heads of one image's 590-token cache (21 MB at fp32, out
  // of cache as in a real step), 1 and 3 queries (greedy, the beams of one image), fp32 and bf16 cache.
  do {
    let s = 590, padded = Attention.paddedLength(s), hd = 64, layers = 6, blocks = layers * heads
    let keysT = Bench.random([blocks * hd * padded]), values = Bench.random([blocks * s * hd], seed: 2)
    let keysT16 = Attention.bf16Packed(keysT), values16 = Attention.bf16Packed(values)
    let q = Bench.random([3, d]), out = Tensor(zeros: [3, d]), scores = Tensor(zeros: [3 * padded])
    for queries in [1, 3] {
      for bf16 in [false, true] {
        let shape = "\(queries) q, Tk=\(s), 6x12 heads, \(bf16 ? "bf16" : "fp32")"
        Bench.measure(
          "attention cross step", shape: shape, bytes: Double((bf16 ? 2 : 4) * 2 * blocks * s * hd)
        ) {
          for b in 0..<blocks {
            let c = (b % heads) * hd
            if bf16 {
              Attention.stepSharedKeysBF16(
                out: out.data + c, outStride: d, q: q.data + c, qStride: d, queries: queries,
                keysT: Attention.bf16Values(keysT16) + b * hd * padded, v: Attention.bf16Values(values16) + b * s * hd,
                vStride: hd, keyLength: s, headDim: hd, scale: 0.125, scores: scores.data)
            } else {
              Attention.stepSharedKeys(
                out: out.data + c, outStride: d, q: q.data + c, qStride: d, queries: queries,
                keysT: keysT.data + b * hd * padded, v: values.data + b * s * hd, vStride: hd, keyLength: s,
                headDim: hd, scale: 0.125, scores: scores.data)
            }
          }
        }
      }
    }
  }

  // Linear forward/backward on BART's attention projection.
  do {
    let x = Bench.random([t, d]), w = Bench.random([d, d]), bias = Bench.random([d]), y = Tensor(zeros: [t, d])
    let dx = Tensor(zeros: [t, d]), dw = Tensor(zeros: [d, d]), db = Tensor(zeros: [d])
    let flops = 2.0 * Double(t * d * d)
    Bench.measure("linear", shape: "[600,768]x[768,768]", flops: flops) {
      Linear.forward(out: y.data, inp: x.data, weight: w.data, bias: bias.data, rows: t, inFeatures: d, outFeatures: d)
    }
    Bench.measure("linear backward", shape: "[600,768]x[768,768]", flops: 2 * flops) {
      Linear.backward(
        dinp: dx.data, dweight: dw.data, dbias: db.data, dout: y.data, inp: x.data, weight: w.data, rows: t,
        inFeatures: d, outFeatures: d)
    }
  }

  // Softmax over BART encoder scores, embedding lookup, mean pooling, cross-entropy over the vocabulary.
  do {
    let rows = heads * t
    let x = Bench.random([rows, t]), y = Tensor(zeros: [rows, t])
    Bench.measure("softmax", shape: "[7200,600]", bytes: 8.0 * Double(rows * t)) {
      Softmax.forward(out: y.data, inp: x.data, rows: rows, dim: t)
    }
    let table = Bench.random([51289, d]), emb = Tensor(zeros: [t, d])
    var rng = SeededRNG(seed: 3)
    let ids = (0..<t).map { _ in Int32(rng.nextUInt64() % 51289) }
    Bench.measure("embedding", shape: "600 of [51289,768]", bytes: 8.0 * Double(t * d)) {
      Embedding.forward(out: emb.data, table: table.data, ids: ids, dim: d)
    }
    let tokens = Bench.random([1, n1 / 64, 1024]), pooled = Tensor(zeros: [1, 1024])
    Bench.measure("meanpool", shape: "[1,576,1024]", bytes: 4.0 * Double(n1 / 64 * 1024)) {
      MeanPool.forward(out: pooled.data, inp: tokens.data, batch: 1, tokens: n1 / 64, channels: 1024)
    }
    let logits = Bench.random([32, 51289]), dlogits = Tensor(zeros: [32, 51289])
    let targets = (0..<32).map { i in i % 5 == 4 ? Int32(-100) : Int32(i * 97) }
    Bench.measure("cross-entropy + dlogits", shape: "[32,51289]", bytes: 8.0 * Double(32 * 51289)) {
      _ = targets.withUnsafeBufferPointer {
        CrossEntropy.forwardBackward(
          logits: logits.data, targets: $0.baseAddress!, rows: 32, vocab: 51289, dlogits: dlogits.data)
      }
    }
  }
}
