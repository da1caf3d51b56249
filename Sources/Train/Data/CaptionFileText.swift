// How a caption is read, from a .txt file or a metadata.jsonl field.
//
// The reference script reads captions two ways: its image/caption-pair loader keeps `f.read()` raw (a trailing newline
// becomes a trained "Ċ" token), and its metadata builder (captions.py load_captions) keeps `"
// ".join(f.readlines()).strip()` (inner newlines stay). flr normalises every caption the same way instead: lines split
// on \n, \r\n or \r, each line stripped of Python whitespace, empty lines dropped, the rest joined with one space. For
// the usual one-line caption with or without a final newline this is the reference script's `.strip()` result.
// A UTF-8 byte-order mark at the start is dropped; any other invalid UTF-8 is an error naming the file and offset.
import Foundation

public enum CaptionFileText {
  /// The normalised caption held in `bytes` (read from `file`, named in errors).
  public static func decode(_ bytes: [UInt8], file: String) throws -> String {
    var body = bytes[...]
    if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
    guard let text = String(validating: body, as: UTF8.self) else {
      throw DatasetError(
        file: file,
        problem: "caption is not valid UTF-8 (\(invalidUTF8Detail(Array(body), skipped: bytes.count - body.count)))")
    }
    return normalise(text)
  }

  /// Reads and normalises a caption file.
  public static func read(_ url: URL) throws -> String {
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
      throw DatasetError(file: url.path, problem: "cannot read caption (\(error.localizedDescription))")
    }
    return try decode(Array(data), file: url.path)
  }

  /// Lines joined with one space, each stripped, empty ones dropped.
  public static func normalise(_ text: String) -> String {
    var lines: [String] = []
    var current = String.UnicodeScalarView()
    var previousCR = false
    func endLine() {
      let line = PythonText.strip(String(current))
      if !line.isEmpty { lines.append(line) }
      current = String.UnicodeScalarView()
    }
    for s in text.unicodeScalars {
      if s == "\n" {
        if !previousCR { endLine() }
        previousCR = false
      } else if s == "\r" {
        endLine()
        previousCR = true
      } else {
        current.append(s)
        previousCR = false
      }
    }
    endLine()
    return lines.joined(separator: " ")
  }

  /// "byte 17: 0xff" for the first byte that does not start or continue a valid UTF-8 sequence.
  static func invalidUTF8Detail(_ bytes: [UInt8], skipped: Int) -> String {
    var i = 0
    while i < bytes.count {
      let b = bytes[i]
      let length =
        b < 0x80 ? 1 : b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0
      if length == 0 || i + length > bytes.count { break }
      if length > 1, String(validating: bytes[i..<(i + length)], as: UTF8.self) == nil { break }
      i += length
    }
    let at = min(i, bytes.count - 1)
    return "byte \(at + skipped): 0x" + String(bytes[max(at, 0)], radix: 16)
  }
}

/// An error in a dataset's files: which file, and what is wrong.
public struct DatasetError: Error, CustomStringConvertible, Equatable {
  public let file: String
  public let problem: String
  public init(file: String, problem: String) {
    self.file = file
    self.problem = problem
  }
  public var description: String { "\(file): \(problem)" }
}
