// GIF → RGB via giflib: the first frame, as Pillow 13's GifImagePlugin loads it after `open`. The canvas is the
// logical screen, grown to hold a frame that reaches past it; pixels the first frame does not cover hold the
// frame's transparent index if it has one, else index 0 (the screen's background colour is not used). The frame's
// own palette, else the global one, is looked up with transparency ignored (convert("RGB")); a palette that is
// the gray ramp 0, 1, 2, ... or none at all makes the indices gray levels (Pillow's mode "L").
import CGIF
import Foundation

enum GIFDecoder {
  /// The bytes giflib reads through its callback.
  struct Source {
    let base: UnsafePointer<UInt8>
    let count: Int
    var offset = 0
  }

  static func decode(_ bytes: UnsafeRawBufferPointer, file: String) throws -> RGBImage {
    var source = Source(base: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), count: bytes.count)
    return try withUnsafeMutablePointer(to: &source) { pointer in
      var status: Int32 = 0
      let read: InputFunc = { gif, buffer, length in
        let source = gif!.pointee.UserData.assumingMemoryBound(to: Source.self)
        let n = max(0, min(Int(length), source.pointee.count - source.pointee.offset))
        if n > 0, let buffer { memcpy(buffer, source.pointee.base + source.pointee.offset, n) }
        source.pointee.offset += n
        return Int32(n)
      }
      guard let gif = DGifOpen(pointer, read, &status) else {
        throw ImageError(file: file, kind: .corrupt, problem: "GIF: \(describe(status))")
      }
      defer { DGifCloseFile(gif, &status) }
      return try firstFrame(gif, file: file)
    }
  }

  static func describe(_ code: Int32) -> String {
    GifErrorString(code).map { String(cString: $0).lowercased() } ?? "giflib error \(code)"
  }

  static func firstFrame(_ gif: UnsafeMutablePointer<GifFileType>, file: String) throws -> RGBImage {
    func failure() -> ImageError {
      ImageError(file: file, kind: .corrupt, problem: "GIF: \(describe(gif.pointee.Error))")
    }
    var transparency: Int?
    while true {
      var record = UNDEFINED_RECORD_TYPE
      guard DGifGetRecordType(gif, &record) == GIF_OK else { throw failure() }
      switch record {
      case EXTENSION_RECORD_TYPE:
        var code: Int32 = 0
        var block: UnsafeMutablePointer<GifByteType>?
        guard DGifGetExtension(gif, &code, &block) == GIF_OK else { throw failure() }
        // Graphic control: flags, delay (2 bytes), transparent index. A later one replaces an earlier one.
        if code == GRAPHICS_EXT_FUNC_CODE, let block, block[0] >= 4, block[1] & 1 != 0 { transparency = Int(block[4]) }
        while block != nil {
          guard DGifGetExtensionNext(gif, &block) == GIF_OK else { throw failure() }
        }
      case IMAGE_DESC_RECORD_TYPE:
        guard DGifGetImageDesc(gif) == GIF_OK else { throw failure() }
        return try readFrame(gif, transparency: transparency, file: file, failure: failure)
      case TERMINATE_RECORD_TYPE:
        throw ImageError(file: file, kind: .corrupt, problem: "GIF: the file holds no image")
      default:
        throw failure()
      }
    }
  }

  static func readFrame(
    _ gif: UnsafeMutablePointer<GifFileType>, transparency: Int?, file: String, failure: () -> ImageError
  ) throws -> RGBImage {
    let frame = gif.pointee.Image
    let (left, top, frameWidth, frameHeight) = (Int(frame.Left), Int(frame.Top), Int(frame.Width), Int(frame.Height))
    let width = max(Int(gif.pointee.SWidth), left + frameWidth)
    let height = max(Int(gif.pointee.SHeight), top + frameHeight)
    try ImageDecoder.checkSize(width: width, height: height, file: file)
    try ImageDecoder.checkSize(width: frameWidth, height: frameHeight, file: file)
    // A local palette replaces the global one, even when it is the gray ramp (then the frame is gray).
    let colorMap = frame.ColorMap != nil ? frame.ColorMap : gif.pointee.SColorMap
    let palette = colorMap.flatMap(palette(of:))

    var indices = [UInt8](repeating: UInt8(truncatingIfNeeded: transparency ?? 0), count: width * height)
    var line = [GifPixelType](repeating: 0, count: frameWidth)
    var rows: [Int] = Array(0..<frameHeight)
    if frame.Interlace {
      rows =
        Array(stride(from: 0, to: frameHeight, by: 8)) + Array(stride(from: 4, to: frameHeight, by: 8))
        + Array(stride(from: 2, to: frameHeight, by: 4)) + Array(stride(from: 1, to: frameHeight, by: 2))
    }
    for y in rows {
      let ok = line.withUnsafeMutableBufferPointer { DGifGetLine(gif, $0.baseAddress, Int32(frameWidth)) }
      guard ok == GIF_OK else { throw failure() }
      let start = (top + y) * width + left
      indices.replaceSubrange(start..<start + frameWidth, with: line)
    }
    if let palette { return palette.expand(indices, width: width, height: height) }
    return Palette.gray(indices, width: width, height: height)
  }

  /// The colour map as a palette, or nil when it is the gray ramp (entry i = (i, i, i)), which Pillow drops.
  static func palette(of map: UnsafeMutablePointer<ColorMapObject>) -> Palette? {
    let count = Int(map.pointee.ColorCount)
    guard let colors = map.pointee.Colors, count > 0 else { return nil }
    var red = [UInt8](), green = [UInt8](), blue = [UInt8]()
    var ramp = true
    for i in 0..<min(count, 256) {
      let c = colors[i]
      red.append(c.Red)
      green.append(c.Green)
      blue.append(c.Blue)
      if !(Int(c.Red) == i && c.Green == c.Red && c.Blue == c.Red) { ramp = false }
    }
    return ramp ? nil : Palette(red: red, green: green, blue: blue)
  }
}
