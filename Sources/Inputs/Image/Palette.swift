// A colour table as Pillow's mode "P" holds it: up to 256 RGB entries, where an index past the last entry reads
// as black (measured for PNG, BMP and GIF palettes shorter than their indices).

struct Palette {
  /// 256 × (R, G, B); entries the file does not give stay 0.
  private(set) var rgb = [UInt8](repeating: 0, count: 768)

  init() {}

  /// Entries of `stride` bytes each (3 or 4), colours in `order` ("RGB" or "BGR"), at most 256 taken.
  init(bytes: UnsafeRawBufferPointer, stride: Int, bgr: Bool) {
    let count = min(256, bytes.count / stride)
    for i in 0..<count {
      let e = i * stride
      rgb[3 * i] = bytes[e + (bgr ? 2 : 0)]
      rgb[3 * i + 1] = bytes[e + 1]
      rgb[3 * i + 2] = bytes[e + (bgr ? 0 : 2)]
    }
  }

  init(red: [UInt8], green: [UInt8], blue: [UInt8]) {
    for i in 0..<min(256, red.count, green.count, blue.count) {
      rgb[3 * i] = red[i]
      rgb[3 * i + 1] = green[i]
      rgb[3 * i + 2] = blue[i]
    }
  }

  /// One index per pixel → RGB.
  func expand(_ indices: [UInt8], width: Int, height: Int) -> RGBImage {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    rgb.withUnsafeBufferPointer { table in
      for i in 0..<(width * height) {
        let e = Int(indices[i]) * 3
        pixels[3 * i] = table[e]
        pixels[3 * i + 1] = table[e + 1]
        pixels[3 * i + 2] = table[e + 2]
      }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
  }

  /// Gray values (mode "L" or "1") → RGB with R = G = B.
  static func gray(_ values: [UInt8], width: Int, height: Int) -> RGBImage {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for i in 0..<(width * height) {
      let v = values[i]
      pixels[3 * i] = v
      pixels[3 * i + 1] = v
      pixels[3 * i + 2] = v
    }
    return RGBImage(width: width, height: height, pixels: pixels)
  }
}
