// Finding image/caption pairs: a folder of `img.jpg` + `img<suffix><ext>` files, or a Hugging Face imagefolder
// `metadata.jsonl` (one JSON object per line, `file_name` relative to the jsonl's folder, caption in `text` or
// another column). Images have the extensions of FlrImage.ImageFiles, any case. Items come out sorted by
// relative path (UTF-8 byte order), so the order, the split and the epochs are the same on every machine.
import FlrImage
import Foundation

/// An image and its caption, before the image is decoded.
struct ScannedPair {
  let image: URL
  let key: String  // path relative to the dataset root
  let caption: String
}

struct ScanResult {
  var pairs: [ScannedPair] = []
  var skipped: [SkippedItem] = []
  /// Files that are neither images of an accepted type nor caption files (a folder of pairs only).
  var ignored: [String] = []
}

enum DatasetScan {
  /// `dataset DIR [recursive] [suffix=] [ext=]`.
  static func captionFiles(in root: URL, options: DatasetOptions) throws -> ScanResult {
    let images = try listImages(root, recursive: options.recursive)
    let ext = options.captionExtension.hasPrefix(".") ? options.captionExtension : "." + options.captionExtension
    let ending = (options.captionSuffix + ext).lowercased()
    var result = ScanResult()
    var claimed = Set<String>()  // caption files that found their image
    for image in images {
      let stem = image.deletingPathExtension().lastPathComponent
      let caption = image.deletingLastPathComponent().appendingPathComponent(stem + options.captionSuffix + ext)
      let key = relative(image, to: root)
      guard FileManager.default.fileExists(atPath: caption.path) else {
        result.skipped.append(SkippedItem(file: key, reason: .noCaption(expected: relative(caption, to: root))))
        continue
      }
      claimed.insert(caption.standardizedFileURL.path)
      // A caption that cannot be read (not UTF-8) is skipped and listed like an unreadable image.
      let text: String
      do { text = try CaptionFileText.read(caption) } catch let error as DatasetError {
        let problem = "\(relative(caption, to: root)): \(error.problem)"
        result.skipped.append(SkippedItem(file: key, reason: .unreadableCaption(problem)))
        continue
      }
      if text.isEmpty {
        result.skipped.append(SkippedItem(file: key, reason: .emptyCaption))
      } else {
        result.pairs.append(ScannedPair(image: image, key: key, caption: text))
      }
    }
    for file in try listFiles(root, recursive: options.recursive) {
      if file.lastPathComponent.lowercased().hasSuffix(ending) {
        if !claimed.contains(file.standardizedFileURL.path) {
          result.skipped.append(SkippedItem(file: relative(file, to: root), reason: .noImage))
        }
      } else if !ImageFiles.isSupported(file) {
        result.ignored.append(relative(file, to: root))
      }
    }
    return result
  }

  /// `dataset DIR/metadata.jsonl [column=]`. A line that is not a JSON object with a string `file_name` is an
  /// error (the file is malformed); an entry without a caption, with an empty one or with a missing image is
  /// skipped; images in the folder that no entry names are reported as images without a caption.
  static func metadata(_ jsonl: URL, options: DatasetOptions) throws -> ScanResult {
    let root = jsonl.deletingLastPathComponent()
    let data: Data
    do { data = try Data(contentsOf: jsonl) } catch {
      throw DatasetError(file: jsonl.path, problem: "cannot read (\(error.localizedDescription))")
    }
    var result = ScanResult()
    var seen: [String: Int] = [:]  // standardized image path -> line
    var lineNumber = 0
    for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
      lineNumber += 1
      let place = "\(jsonl.path):\(lineNumber)"
      if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
      guard String(validating: line, as: UTF8.self) != nil else {
        throw DatasetError(file: place, problem: "line is not valid UTF-8")
      }
      let object: [String: JSONValue]
      do { object = try JSONDecoder().decode([String: JSONValue].self, from: Data(line)) } catch {
        throw DatasetError(file: place, problem: "not a JSON object")
      }
      guard case .string(let fileName)? = object["file_name"] else {
        throw DatasetError(file: place, problem: "no string \"file_name\"")
      }
      let image = root.appendingPathComponent(fileName).standardizedFileURL
      let key = fileName
      if let first = seen[image.path] {
        result.skipped.append(SkippedItem(file: key, reason: .duplicate(of: "line \(first)")))
        continue
      }
      seen[image.path] = lineNumber
      guard FileManager.default.fileExists(atPath: image.path) else {
        result.skipped.append(SkippedItem(file: key, reason: .noImage))
        continue
      }
      switch object[options.captionColumn] {
      case nil, .null?:
        result.skipped.append(
          SkippedItem(file: key, reason: .noCaption(expected: "\"\(options.captionColumn)\" at line \(lineNumber)")))
      case .string(let text)?:
        let caption = CaptionFileText.normalise(text)
        if caption.isEmpty {
          result.skipped.append(SkippedItem(file: key, reason: .emptyCaption))
        } else {
          result.pairs.append(ScannedPair(image: image, key: key, caption: caption))
        }
      case _?:
        throw DatasetError(file: place, problem: "\"\(options.captionColumn)\" is not a string")
      }
    }
    for image in try listImages(root, recursive: true) where seen[image.standardizedFileURL.path] == nil {
      result.skipped.append(
        SkippedItem(file: relative(image, to: root), reason: .noCaption(expected: "entry in metadata.jsonl")))
    }
    result.pairs.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    return result
  }

  static func listImages(_ root: URL, recursive: Bool) throws -> [URL] {
    do { return try ImageFiles.list(in: root, recursive: recursive) } catch let error as ImageError {
      throw DatasetError(file: error.file, problem: error.problem)
    }
  }

  /// Regular, non-hidden files (for caption files without an image), sorted by path.
  static func listFiles(_ root: URL, recursive: Bool) throws -> [URL] {
    let fm = FileManager.default
    let keys: [URLResourceKey] = [.isRegularFileKey]
    var found: [URL] = []
    if recursive {
      guard let walker = fm.enumerator(at: root, includingPropertiesForKeys: keys, options: [.skipsHiddenFiles]) else {
        throw DatasetError(file: root.path, problem: "cannot list folder")
      }
      for case let url as URL in walker { found.append(url) }
    } else {
      do {
        found = try fm.contentsOfDirectory(at: root, includingPropertiesForKeys: keys, options: [.skipsHiddenFiles])
      } catch {
        throw DatasetError(file: root.path, problem: "cannot list folder (\(error.localizedDescription))")
      }
    }
    return found.filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
      .sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
  }

  /// `file`'s path below `root` ("sub/img.jpg"), or its full path if it is not below.
  static func relative(_ file: URL, to root: URL) -> String {
    let base = root.standardizedFileURL.path
    let path = file.standardizedFileURL.path
    let prefix = base.hasSuffix("/") ? base : base + "/"
    return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
  }
}

/// Just enough JSON to read one metadata line.
enum JSONValue: Decodable {
  case string(String), number(Double), bool(Bool), null, array([JSONValue]), object([String: JSONValue])

  init(from decoder: Decoder) throws {
    let c = try decoder.singleValueContainer()
    if c.decodeNil() {
      self = .null
    } else if let s = try? c.decode(String.self) {
      self = .string(s)
    } else if let b = try? c.decode(Bool.self) {
      self = .bool(b)
    } else if let n = try? c.decode(Double.self) {
      self = .number(n)
    } else if let a = try? c.decode([JSONValue].self) {
      self = .array(a)
    } else {
      self = .object(try c.decode([String: JSONValue].self))
    }
  }
}
