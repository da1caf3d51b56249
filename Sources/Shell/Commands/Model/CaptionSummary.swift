import Foundation

// The line `caption` ends with (on stderr): how many images, how fast (images/s, s/image, caption tokens/s)
// and where the captions went.
//   caption: 12 captioned, 3 skipped (already done) in 6.3 s: 1.90 images/s, 0.53 s/image, 38.1 tokens/s;
//   captions in .txt files next to the images

struct CaptionSummary {
  var captioned: Int
  var skipped: Int
  var unreadable: Int
  /// Captions that came out empty with `save` (no caption file written).
  var empty: Int = 0
  /// Tokens of the captions written (the caption text tokenized again, special tokens included).
  var tokens: Int
  var seconds: Double
  var destination: String

  var text: String {
    var parts = ["\(captioned) captioned"]
    if skipped > 0 { parts.append("\(skipped) skipped (already done)") }
    if unreadable > 0 { parts.append("\(unreadable) unreadable") }
    if empty > 0 { parts.append("\(empty) empty (no caption file written)") }
    var line = parts.joined(separator: ", ") + String(format: " in %.1f s", seconds)
    if captioned > 0, seconds > 0 {
      line += String(
        format: ": %.2f images/s, %.2f s/image, %.1f tokens/s", Double(captioned) / seconds,
        seconds / Double(captioned), Double(tokens) / seconds)
    }
    return line + "; " + destination
  }

  /// Where `save`, `out=` or neither put the captions.
  static func destination(save: Bool, ext: String, out: String?) -> String {
    var places: [String] = []
    if save { places.append("\(ext) files next to the images") }
    if let out { places.append(out) }
    return places.isEmpty ? "captions on stdout" : "captions in " + places.joined(separator: " and ")
  }
}
