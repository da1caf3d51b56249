// Pillow's BICUBIC resize of 8-bit RGB, byte for byte (Pillow 13 `Resample.c` + `Image.resize`; SPEC.md
// Appendix A): separable, a = -0.5, antialiased (support scaled by the downscale factor), 22-bit fixed-point
// weights, each pass rounded and clamped to uint8, vertical pass first only for images that mostly shrink in height.
import FlrCore

public enum BicubicResize {
  static let precisionBits = 22

  /// Pillow's bicubic kernel, a = -0.5, in the same operation order (so the same doubles).
  @inline(__always) static func kernel(_ x: Double) -> Double {
    let t = x < 0 ? -x : x
    if t < 1 { return ((1.5 * t - 2.5) * t) * t + 1 }
    if t < 2 { return (((t - 5) * t + 8) * t - 4) * -0.5 }
    return 0
  }

  /// Fixed-point weights of one axis: for output i, taps first[i] ..< first[i] + count[i] with
  /// weights[i * stride ..< i * stride + count[i]].
  struct Taps {
    var first: [Int]
    var count: [Int]
    var weights: [Int32]
    var stride: Int

    /// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the box [0, inSize].
    init(inSize: Int, outSize: Int) {
      let scale = Double(inSize) / Double(outSize)
      let filterScale = max(scale, 1)
      let support = 2 * filterScale
      let inverse = 1 / filterScale
      stride = Int(support.rounded(.up)) * 2 + 1
      first = [Int](repeating: 0, count: outSize)
      count = [Int](repeating: 0, count: outSize)
      weights = [Int32](repeating: 0, count: outSize * stride)
      var raw = [Double](repeating: 0, count: stride)
      for i in 0..<outSize {
        let center = (Double(i) + 0.5) * scale
        let lo = max(0, Int(center - support + 0.5))  // Int() truncates toward zero, as C's (int) cast
        let hi = min(inSize, Int(center + support + 0.5))
        let n = max(0, hi - lo)
        var sum = 0.0
        for t in 0..<n {
          let w = kernel((Double(t + lo) - center + 0.5) * inverse)
          raw[t] = w
          sum += w
        }
        for t in 0..<n {
          var w = raw[t]
          if sum != 0 { w /= sum }
          let scaled = w * Double(1 << BicubicResize.precisionBits)
          weights[i * stride + t] = Int32(w < 0 ? scaled - 0.5 : scaled + 0.5)
        }
        first[i] = lo
        count[i] = n
      }
    }
  }

  @inline(__always) static func clip8(_ acc: Int32) -> UInt8 {
    let v = acc >> Int32(precisionBits)
    return UInt8(truncatingIfNeeded: v < 0 ? 0 : (v > 255 ? 255 : v))
  }

  /// Resizes to `width` × `height`. An unchanged size returns the image as is (Pillow copies, no resampling).
  public static func resize(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
    precondition(width > 0 && height > 0, "resize target must be positive")
    let inW = image.width
    let inH = image.height
    let needH = width != inW
    let needV = height != inH
    if !needH && !needV { return image }
    if needH && needV && height < inH && (inH - height) > 2 * (inW - width) {
      return horizontal(vertical(image, height: height), width: width)  // Pillow 13: vertical first
    }
    var out = image
    if needH { out = horizontal(out, width: width) }
    if needV { out = vertical(out, height: height) }
    return out
  }

  /// The 768 × 768 image the Florence-2 processor feeds the model (before rescale/normalise).
  public static func florence(_ image: RGBImage) -> RGBImage { resize(image, width: 768, height: 768) }

  /// One horizontal pass: every row from inW to outW columns.
  static func horizontal(_ image: RGBImage, width outW: Int) -> RGBImage {
    let taps = Taps(inSize: image.width, outSize: outW)
    let inW = image.width
    let rows = image.height
    var out = [UInt8](repeating: 0, count: outW * rows * 3)
    image.pixels.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        taps.weights.withUnsafeBufferPointer { kk in
          let s = src.baseAddress!
          let d = dst.baseAddress!
          let k0 = kk.baseAddress!
          Threads.parallelChunks(rows, grain: 16) { range in
            for y in range {
              let inRow = s + y * inW * 3
              let outRow = d + y * outW * 3
              for x in 0..<outW {
                let k = k0 + x * taps.stride
                let n = taps.count[x]
                var p = inRow + taps.first[x] * 3
                var r: Int32 = 1 << 21
                var g: Int32 = 1 << 21
                var b: Int32 = 1 << 21
                for t in 0..<n {
                  let w = k[t]
                  r &+= Int32(p[0]) &* w
                  g &+= Int32(p[1]) &* w
                  b &+= Int32(p[2]) &* w
                  p += 3
                }
                outRow[3 * x] = clip8(r)
                outRow[3 * x + 1] = clip8(g)
                outRow[3 * x + 2] = clip8(b)
              }
            }
          }
        }
      }
    }
    return RGBImage(width: outW, height: rows, pixels: out)
  }

  /// One vertical pass: every column from inH to outH rows. Each output row accumulates whole source rows
  /// (the integer sums equal Pillow's per-pixel loop; the row form vectorises).
  static func vertical(_ image: RGBImage, height outH: Int) -> RGBImage {
    let taps = Taps(inSize: image.height, outSize: outH)
    let rowLength = image.width * 3
    var out = [UInt8](repeating: 0, count: rowLength * outH)
    image.pixels.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        taps.weights.withUnsafeBufferPointer { kk in
          let s = src.baseAddress!
          let d = dst.baseAddress!
          let k0 = kk.baseAddress!
          Threads.parallelChunks(outH, grain: 8) { range in
            let acc = UnsafeMutablePointer<Int32>.allocate(capacity: rowLength)
            defer { acc.deallocate() }
            for y in range {
              acc.initialize(repeating: 1 << 21, count: rowLength)
              let k = k0 + y * taps.stride
              for t in 0..<taps.count[y] {
                let inRow = s + (taps.first[y] + t) * rowLength
                let w = k[t]
                for i in 0..<rowLength { acc[i] &+= Int32(inRow[i]) &* w }
              }
              let outRow = d + y * rowLength
              for i in 0..<rowLength { outRow[i] = clip8(acc[i]) }
            }
          }
        }
      }
    }
    return RGBImage(width: image.width, height: outH, pixels: out)
  }
}
