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

  /// (R, G, B) at column x, row y.
  public func pixel(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
    let i = (y * width + x) * 3
    return (pixels[i], pixels[i + 1], pixels[i + 2])
  }
}
