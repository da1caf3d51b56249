// The TIFF/EXIF Orientation values as Pillow's ImageOps.exif_transpose applies them (2 mirror, 3 rotate 180,
// 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise). Pillow applies it
// when a TIFF loads; JPEG, PNG, WebP and AVIF keep the stored orientation.

enum ImageOrientation {
  static func apply(_ orientation: Int, to image: RGBImage) -> RGBImage {
    guard (2...8).contains(orientation) else { return image }
    let w = image.width
    let h = image.height
    let swapped = orientation >= 5
    let outW = swapped ? h : w
    let outH = swapped ? w : h
    var pixels = [UInt8](repeating: 0, count: image.pixels.count)
    image.pixels.withUnsafeBufferPointer { src in
      for y in 0..<outH {
        for x in 0..<outW {
          let (sx, sy): (Int, Int)
          switch orientation {
          case 2: (sx, sy) = (w - 1 - x, y)
          case 3: (sx, sy) = (w - 1 - x, h - 1 - y)
          case 4: (sx, sy) = (x, h - 1 - y)
          case 5: (sx, sy) = (y, x)
          case 6: (sx, sy) = (y, h - 1 - x)
          case 7: (sx, sy) = (w - 1 - y, h - 1 - x)
          default: (sx, sy) = (w - 1 - y, x)
          }
          let s = 3 * (sy * w + sx)
          let d = 3 * (y * outW + x)
          pixels[d] = src[s]
          pixels[d + 1] = src[s + 1]
          pixels[d + 2] = src[s + 2]
        }
      }
    }
    return RGBImage(width: outW, height: outH, pixels: pixels)
  }
}
