// An 8-bit RGB image in row-major HWC order: what Pillow's `Image.open(f).convert("RGB")` holds.

public struct RGBImage: Sendable, Equatable {
  public let width: Int
  public let height: Int
  /// [height, width, 3] R, G, B bytes.
  public var pixels: [UInt8]

  public init(width: Int, height: Int, pixels: [UInt8]) {
    precondition(pixels.count == width * height * 3, "RGBImage: \(pixels.count) bytes for \(width)x\(height)")
    self.width = width
    self.height = height
    self.pixels = pixels
  }

  /// From [height, width, 4] R, G, B, A bytes, alpha dropped (not composited), as convert("RGB") does.
  init(width: Int, height: Int, droppingAlphaOf rgba: [UInt8]) {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for i in 0..<(width * height) {
      pixels[3 * i] = rgba[4 * i]
      pixels[3 * i + 1] = rgba[4 * i + 1]
      pixels[3 * i + 2] = rgba[4 * i + 2]
    }
    self.init(width: width, height: height, pixels: pixels)
  }

  /// (R, G, B) at column x, row y.
  public func pixel(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
    let i = (y * width + x) * 3
    return (pixels[i], pixels[i + 1], pixels[i + 2])
  }
}
