// Which files a folder scan picks up: the extensions of the formats ImageDecoder reads, matched case-insensitively
// (the dataset loaders' rule). This list is the one place a new format's extensions go. The extension only
// selects files; the decoder trusts the magic bytes.
import Foundation

public enum ImageFiles {
  /// In the order messages list them.
  public static let orderedExtensions = ["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff", "avif"]
  public static let extensions = Set(orderedExtensions)
  /// ".png .jpg ...", for help and messages.
  public static let described = orderedExtensions.map { "." + $0 }.joined(separator: " ")

  public static func isSupported(_ url: URL) -> Bool { extensions.contains(url.pathExtension.lowercased()) }

  /// Image files in `folder`, sorted by path (byte order of the UTF-8 path, so the order is the same everywhere).
  /// Hidden files are skipped. `recursive` also descends into subfolders.
  public static func list(in folder: URL, recursive: Bool = false) throws -> [URL] {
    let fm = FileManager.default
    var isDirectory: ObjCBool = false
    guard fm.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw ImageError(file: folder.path, kind: .unreadable, problem: "not a folder")
    }
    var found: [URL] = []
    if recursive {
      guard
        let walker = fm.enumerator(
          at: folder, includingPropertiesForKeys: [.isRegularFileKey],
          options: [.skipsHiddenFiles])
      else { throw ImageError(file: folder.path, kind: .unreadable, problem: "cannot list folder") }
      for case let url as URL in walker where isSupported(url) && isRegularFile(url) { found.append(url) }
    } else {
      let entries: [URL]
      do {
        entries = try fm.contentsOfDirectory(
          at: folder, includingPropertiesForKeys: [.isRegularFileKey],
          options: [.skipsHiddenFiles])
      } catch {
        throw ImageError(
          file: folder.path, kind: .unreadable, problem: "cannot list folder (\(error.localizedDescription))")
      }
      found = entries.filter { isSupported($0) && isRegularFile($0) }
    }
    return found.sorted { Array($0.path.utf8).lexicographicallyPrecedes(Array($1.path.utf8)) }
  }

  static func isRegularFile(_ url: URL) -> Bool {
    (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true
  }
}
