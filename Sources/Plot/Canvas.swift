// An RGB raster to draw charts on: filled rectangles, straight lines of a given width, and text in the built-in
// bitmap font (horizontal, or turned a quarter left for a y-axis label). Pixels are 8-bit RGB, row-major, top
// row first: what PNGWriter writes.

public struct RGB: Sendable, Equatable, Hashable {
  public var r, g, b: UInt8
  public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
    self.r = r
    self.g = g
    self.b = b
  }
  public static let white = RGB(255, 255, 255)
  public static let black = RGB(0, 0, 0)
}

public struct Canvas: Sendable {
  public let width: Int
  public let height: Int
  /// width × height × 3 bytes.
  public private(set) var pixels: [UInt8]

  public init(width: Int, height: Int, background: RGB = .white) {
    self.width = width
    self.height = height
    pixels = [UInt8](repeating: 0, count: width * height * 3)
    fill(x: 0, y: 0, width: width, height: height, background)
  }

  public func pixel(x: Int, y: Int) -> RGB {
    let i = (y * width + x) * 3
    return RGB(pixels[i], pixels[i + 1], pixels[i + 2])
  }

  public mutating func set(x: Int, y: Int, _ color: RGB) {
    guard x >= 0, y >= 0, x < width, y < height else { return }
    let i = (y * width + x) * 3
    pixels[i] = color.r
    pixels[i + 1] = color.g
    pixels[i + 2] = color.b
  }

  public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, _ color: RGB) {
    for row in max(0, y)..<min(height, y + h) where w > 0 {
      for column in max(0, x)..<min(width, x + w) { set(x: column, y: row, color) }
    }
  }

  /// A line from (x0, y0) to (x1, y1) `thickness` pixels wide (Bresenham with a square brush).
  public mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ color: RGB, thickness: Int = 1) {
    var x = x0, y = y0
    let dx = abs(x1 - x0), dy = -abs(y1 - y0)
    let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
    var error = dx + dy
    let low = -(thickness - 1) / 2, high = thickness / 2
    while true {
      for oy in low...high { for ox in low...high { set(x: x + ox, y: y + oy, color) } }
      if x == x1 && y == y1 { break }
      let e2 = 2 * error
      if e2 >= dy {
        error += dy
        x += sx
      }
      if e2 <= dx {
        error += dx
        y += sy
      }
    }
  }

  /// Text with its top-left corner at (x, y); each font pixel becomes a `scale` × `scale` square.
  public mutating func text(_ string: String, x: Int, y: Int, scale: Int = 1, _ color: RGB) {
    for (i, character) in string.enumerated() {
      let left = x + i * BitmapFont.advance * scale
      for (row, bits) in BitmapFont.rows(character).enumerated() {
        for column in 0..<BitmapFont.width where bits & (0x10 >> UInt8(column)) != 0 {
          fill(x: left + column * scale, y: y + row * scale, width: scale, height: scale, color)
        }
      }
    }
  }

  /// Text read bottom to top (turned a quarter left), its bottom-left corner at (x, y + its length).
  public mutating func verticalText(_ string: String, x: Int, y: Int, scale: Int = 1, _ color: RGB) {
    let length = BitmapFont.textWidth(string, scale: scale)
    for (i, character) in string.enumerated() {
      let bottom = y + length - i * BitmapFont.advance * scale
      for (row, bits) in BitmapFont.rows(character).enumerated() {
        for column in 0..<BitmapFont.width where bits & (0x10 >> UInt8(column)) != 0 {
          fill(x: x + row * scale, y: bottom - (column + 1) * scale, width: scale, height: scale, color)
        }
      }
    }
  }

  public static func textWidth(_ string: String, scale: Int = 1) -> Int {
    BitmapFont.textWidth(string, scale: scale)
  }

  public static func textHeight(scale: Int = 1) -> Int { BitmapFont.height * scale }
}
