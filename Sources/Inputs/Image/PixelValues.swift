// rescale (1/255) and ImageNet normalisation into the model's pixel_values, exactly as transformers'
// CLIPImageProcessor (PIL backend) computes them: float32(float64(v) * (1/255)), then float32 (x - mean) / std.
import FlrCore

public enum PixelValues {
  public static let size = 768
  public static let mean: [Float] = [0.485, 0.456, 0.406]
  public static let std: [Float] = [0.229, 0.224, 0.225]
  public static let rescaleFactor: Double = 1.0 / 255.0

  /// The 3 × 256 values a byte maps to, per channel. A table is exact: the map depends only on (channel, byte).
  static let table: [Float] = {
    var t = [Float](repeating: 0, count: 3 * 256)
    for c in 0..<3 {
      for v in 0..<256 {
        let x = Float(Double(v) * rescaleFactor)
        t[c * 256 + v] = (x - mean[c]) / std[c]
      }
    }
    return t
  }()

  /// Normalised value of byte `v` in channel `c` (0 = R).
  public static func value(channel c: Int, byte v: UInt8) -> Float { table[c * 256 + Int(v)] }

  /// uint8 HWC 768 × 768 × 3 → float32 [3, 768, 768] CHW.
  public static func tensor(fromResized image: RGBImage) -> Tensor {
    precondition(image.width == size && image.height == size, "pixel_values need a 768x768 image")
    return tensor(hwc: image.pixels, height: size, width: size)
  }

  /// Any uint8 HWC image → float32 [3, H, W].
  public static func tensor(hwc pixels: [UInt8], height: Int, width: Int) -> Tensor {
    precondition(pixels.count == height * width * 3, "pixel count does not match \(width)x\(height)x3")
    let out = Tensor(zeros: [3, height, width])
    if pixels.isEmpty { return out }
    pixels.withUnsafeBufferPointer { write(hwc: $0.baseAddress!, count: height * width, to: out.data) }
    return out
  }

  /// Writes one image's [3, H, W] values at `dst` (e.g. one slot of a [B, 3, 768, 768] batch).
  /// `count` = H × W pixels read from `src` (HWC).
  public static func write(hwc src: UnsafePointer<UInt8>, count plane: Int, to dst: UnsafeMutablePointer<Float>) {
    table.withUnsafeBufferPointer { lut in
      for i in 0..<plane {
        dst[i] = lut[Int(src[3 * i])]
        dst[plane + i] = lut[256 + Int(src[3 * i + 1])]
        dst[2 * plane + i] = lut[512 + Int(src[3 * i + 2])]
      }
    }
  }

  /// Decoded image → pixel_values [3, 768, 768], as the Florence-2 processor makes them.
  public static func tensor(from image: RGBImage) -> Tensor {
    tensor(fromResized: BicubicResize.florence(image))
  }
}
