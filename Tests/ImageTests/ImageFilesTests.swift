import Foundation
import XCTest

@testable import FlrImage

final class ImageFilesTests: XCTestCase {
  func testExtensionsAreCaseInsensitive() {
    for name in ["a.png", "b.JPG", "c.jpeg", "d.WebP", "e.JPEG", "f.bmp", "g.GIF", "h.tif", "i.TIFF", "j.avif"] {
      XCTAssertTrue(ImageFiles.isSupported(URL(fileURLWithPath: "/x/\(name)")), name)
    }
    for name in ["a.psd", "b.txt", "c", "d.png.txt", "e.tiff.txt"] {
      XCTAssertFalse(ImageFiles.isSupported(URL(fileURLWithPath: "/x/\(name)")), name)
    }
  }

  func testFolderListingIsSortedAndOptionallyRecursive() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("flr-imagefiles-\(getpid())")
    try? FileManager.default.removeItem(at: root)
    defer { try? FileManager.default.removeItem(at: root) }
    try FileManager.default.createDirectory(at: root.appendingPathComponent("sub"), withIntermediateDirectories: true)
    for name in ["b.JPG", "a.png", "c.txt", ".hidden.png", "Z.webp", "sub/d.jpeg"] {
      try Data([1]).write(to: root.appendingPathComponent(name))
    }
    let flat = try ImageFiles.list(in: root).map { $0.lastPathComponent }
    XCTAssertEqual(flat, ["Z.webp", "a.png", "b.JPG"])
    let deep = try ImageFiles.list(in: root, recursive: true).map { $0.lastPathComponent }
    XCTAssertEqual(deep, ["Z.webp", "a.png", "b.JPG", "d.jpeg"])
    XCTAssertThrowsError(try ImageFiles.list(in: root.appendingPathComponent("missing")))
  }
}
