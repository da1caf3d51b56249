// Expanding NF4 codes to fp32 sixteen at a time, for the kernels that multiply by an NF4 weight without
// materialising it (NF4Matmul.swift). A group of 16 consecutive values starting at a multiple of 16 lies in
// one 64-block, so it has one 16-entry table: lut[c] = NF4[c] · absmax_b, the same fp32 product as
// `dequantize(from:count:into:)`, so every expanded value is bit-identical to the reference dequantization.
//
// On x86-64 (AVX2, which -march=native enables on every machine flr targets) the 16-entry lookup is two
// 8-entry `vpermps` (the low three bits of the code) and a `vblendvps` on bit 3, from 8 packed bytes widened
// to 32-bit lanes: about 10 instructions for 16 values, no memory traffic beyond the 8 code bytes.
// Elsewhere the same lookup runs lane by lane.
#if arch(x86_64) && canImport(_Builtin_intrinsics.intel)
  import _Builtin_intrinsics.intel
#endif

/// Raw pointers into an NF4Tensor and the quantization maps; valid only inside `NF4Tensor.withView`.
public struct NF4View {
  public let packed: UnsafePointer<UInt8>
  let absmaxCodes: UnsafePointer<UInt8>
  let absmaxScales: UnsafePointer<Float>
  let absmaxOffset: Float
  let table: UnsafePointer<Float>  // the 16 NF4 values
  let signed: UnsafePointer<Float>  // the 256-value signed dynamic map

  /// absmax of 64-block `b` (bitsandbytes' `dequantize_blockwise(...) + offset`, same fp32 operations as
  /// `NF4Tensor.absmax()`).
  @inline(__always) func absmax(_ b: Int) -> Float {
    signed[Int(absmaxCodes[b])] * absmaxScales[b / NF4Tensor.absmaxBlockSize] + absmaxOffset
  }

  /// The 16 values of block `b` as two halves: codes 0-7 and codes 8-15.
  @inline(__always) func lut(_ b: Int) -> NF4Lut {
    let s = SIMD8<Float>(repeating: absmax(b))
    let raw = UnsafeRawPointer(table)
    return NF4Lut(
      low: raw.loadUnaligned(as: SIMD8<Float>.self) * s,
      high: raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self) * s)
  }

  /// Values [start, start + count) into `out` in their natural order. With `start` and `count` multiples of
  /// 16 the groups are expanded with `decode16`; otherwise value by value (same values).
  @inline(__always) func decode(from start: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
    if start % 16 != 0 || count % 16 != 0 {
      var lastBlock = -1
      var scale: Float = 0
      for j in start..<(start + count) {
        let b = j / NF4Tensor.blockSize
        if b != lastBlock { (lastBlock, scale) = (b, absmax(b)) }
        let byte = packed[j >> 1]
        out[j - start] = table[Int(j & 1 == 0 ? byte >> 4 : byte & 0xF)] * scale
      }
      return
    }
    var j = start
    while j < start &+ count {
      let block = j &>> 6  // blockSize 64
      let end = Swift.min(start &+ count, (block &+ 1) &<< 6)
      let l = lut(block)
      while j < end {
        let (a, b) = decode16Natural(packed + (j &>> 1), l)
        let o = UnsafeMutableRawPointer(out + (j &- start))
        o.storeBytes(of: a, as: SIMD8<Float>.self)
        o.storeBytes(of: b, toByteOffset: 32, as: SIMD8<Float>.self)
        j &+= 16
      }
    }
  }
}

/// One block's 16 values, codes 0-7 in `low` and 8-15 in `high`.
public struct NF4Lut {
  var low: SIMD8<Float>
  var high: SIMD8<Float>
}

extension NF4Tensor {
  /// Calls `body` with raw pointers to the codes, the double-quantized absmax and the maps.
  public func withView<R>(_ body: (NF4View) throws -> R) rethrows -> R {
    try packed.withUnsafeBufferPointer { p in
      try absmaxCodes.withUnsafeBufferPointer { c in
        try absmaxScales.withUnsafeBufferPointer { s in
          try QuantizationMaps.nf4.withUnsafeBufferPointer { t in
            try QuantizationMaps.signed.withUnsafeBufferPointer { m in
              try body(
                NF4View(
                  packed: p.baseAddress!, absmaxCodes: c.baseAddress!, absmaxScales: s.baseAddress!,
                  absmaxOffset: absmaxOffset, table: t.baseAddress!, signed: m.baseAddress!))
            }
          }
        }
      }
    }
  }
}

#if arch(x86_64) && canImport(_Builtin_intrinsics.intel)
  /// 16 values from 8 packed bytes, split by parity: `even` = values 0, 2, ..., 14 (the high nibbles),
  /// `odd` = values 1, 3, ..., 15 (the low nibbles).
  @inline(__always) func decode16(_ p: UnsafePointer<UInt8>, _ l: NF4Lut) -> (even: SIMD8<Float>, odd: SIMD8<Float>) {
    let v = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(UnsafeRawPointer(p).loadUnaligned(as: Int64.self)))
    let hi = _mm256_srli_epi32(v, 4)
    // vpermps reads only bits 0-2 of each index; vblendvps picks `high` where bit 31 is set, so bit 3 of
    // the code is shifted there (bit 7 of the byte for the high nibble, bit 3 for the low one).
    let even = _mm256_blendv_ps(
      _mm256_permutevar8x32_ps(l.low, hi), _mm256_permutevar8x32_ps(l.high, hi),
      _mm256_castsi256_ps(_mm256_slli_epi32(v, 24)))
    let odd = _mm256_blendv_ps(
      _mm256_permutevar8x32_ps(l.low, v), _mm256_permutevar8x32_ps(l.high, v),
      _mm256_castsi256_ps(_mm256_slli_epi32(v, 28)))
    return (even, odd)
  }

  /// 16 values from 8 packed bytes in their natural order (values 0-7, values 8-15).
  @inline(__always) func decode16Natural(_ p: UnsafePointer<UInt8>, _ l: NF4Lut) -> (SIMD8<Float>, SIMD8<Float>) {
    let (e, o) = decode16(p, l)
    let a = _mm256_unpacklo_ps(e, o)  // e0 o0 e1 o1 | e4 o4 e5 o5
    let b = _mm256_unpackhi_ps(e, o)  // e2 o2 e3 o3 | e6 o6 e7 o7
    return (SIMD8(lowHalf: a.lowHalf, highHalf: b.lowHalf), SIMD8(lowHalf: a.highHalf, highHalf: b.highHalf))
  }
#else
  @inline(__always) func decode16(_ p: UnsafePointer<UInt8>, _ l: NF4Lut) -> (even: SIMD8<Float>, odd: SIMD8<Float>) {
    var even = SIMD8<Float>(), odd = SIMD8<Float>()
    for t in 0..<8 {
      let hi = Int(p[t] >> 4), lo = Int(p[t] & 0xF)
      even[t] = hi < 8 ? l.low[hi] : l.high[hi - 8]
      odd[t] = lo < 8 ? l.low[lo] : l.high[lo - 8]
    }
    return (even, odd)
  }

  @inline(__always) func decode16Natural(_ p: UnsafePointer<UInt8>, _ l: NF4Lut) -> (SIMD8<Float>, SIMD8<Float>) {
    let (e, o) = decode16(p, l)
    return (
      SIMD8(e[0], o[0], e[1], o[1], e[2], o[2], e[3], o[3]), SIMD8(e[4], o[4], e[5], o[5], e[6], o[6], e[7], o[7])
    )
  }
#endif
