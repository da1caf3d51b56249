// CaptionDataset: pairs and metadata.jsonl layouts, what is skipped and why, strict, bad input, the memory
// budget, split and reload. Images are small fixtures from Tests/Fixtures/images copied into temp folders;
// resident images must equal Pillow's 768x768 resize (sha256 from the images fixture).
import FlrImage
import XCTest

@testable import FlrTrain

final class DataDatasetTests: XCTestCase {
  /// a.jpg + a.txt, b.png + b.txt, c.png (no caption), d.txt (no image), e.png + empty e.txt.
  func makePairs(_ t: TempFolder) throws {
    try t.image("a.jpg", from: "jpeg_noise_77x123.jpg")
    try t.text("a.txt", "a noisy square, grey\n")
    try t.image("b.PNG", from: "synth_5x3.png")
    try t.text("b.txt", "tiny\nimage")
    try t.image("c.png", from: "synth_1x1.png")
    try t.text("d.txt", "caption without image")
    try t.image("e.webp", from: "photo_chelsea_lossless.webp")
    try t.text("e.txt", " \n ")
  }

  func testPairsFolder() throws {
    let t = try TempFolder()
    try makePairs(t)
    let data = try CaptionDataset(at: t.url)
    XCTAssertEqual(data.items.map(\.key), ["a.jpg", "b.PNG"])
    XCTAssertEqual(data.items.map(\.caption), ["a noisy square, grey", "tiny image"])
    XCTAssertEqual(
      data.skipped.map(\.description),
      [
        "c.png: image without caption (no c.txt)", "e.webp: empty caption", "d.txt: caption without image",
      ])
    XCTAssertEqual(data.images.residentCount, 2)
    XCTAssertEqual(SHA256.hex(try data.images.image(0).pixels), try DataFixtures.resizedSHA256("jpeg_noise_77x123.jpg"))
    XCTAssertEqual(SHA256.hex(try data.images.image(1).pixels), try DataFixtures.resizedSHA256("synth_5x3.png"))
    XCTAssertTrue(data.summary.hasPrefix("2 images with captions (2 resident, 3.4 MiB); skipped 3:"), data.summary)

    var strict = DatasetOptions()
    strict.strict = true
    XCTAssertThrowsError(try CaptionDataset(at: t.url, options: strict)) {
      let text = "\($0)"
      XCTAssertTrue(text.contains("strict: 3 item(s) skipped") && text.contains("d.txt: caption without image"), text)
    }
  }

  func testSuffixExtensionAndRecursive() throws {
    let t = try TempFolder()
    try t.image("x.jpg", from: "jpeg_noise_77x123.jpg")
    try t.text("x_combined.caption", "combined caption")
    try t.text("x.txt", "plain caption")
    try t.image("sub/y.png", from: "synth_5x3.png")
    try t.text("sub/y_combined.caption", "in a subfolder")
    var options = DatasetOptions()
    options.captionSuffix = "_combined"
    options.captionExtension = "caption"
    let flat = try CaptionDataset(at: t.url, options: options)
    XCTAssertEqual(flat.items.map(\.caption), ["combined caption"])
    XCTAssertEqual(flat.skipped, [])
    options.recursive = true
    let deep = try CaptionDataset(at: t.url, options: options)
    XCTAssertEqual(deep.items.map(\.key), ["sub/y.png", "x.jpg"])
    XCTAssertEqual(deep.items.map(\.caption), ["in a subfolder", "combined caption"])
  }

  func testMetadataJSONL() throws {
    let t = try TempFolder()
    try t.image("imgs/1.jpg", from: "jpeg_noise_77x123.jpg")
    try t.image("imgs/2.png", from: "synth_5x3.png")
    try t.image("imgs/3.png", from: "synth_1x1.png")
    try t.image("unlisted.png", from: "synth_extremes_200x300.png")
    try t.text(
      "metadata.jsonl",
      """
      {"file_name": "imgs/1.jpg", "text": "first", "alt": "premier"}
      {"file_name": "imgs/2.png", "text": "second\\nline ", "alt": "deuxième"}

      {"file_name": "imgs/2.png", "text": "again"}
      {"file_name": "imgs/3.png", "text": ""}
      {"file_name": "imgs/missing.png", "text": "no file"}
      {"file_name": "imgs/3.png", "alt": "troisième"}
      """)
    let data = try CaptionDataset(at: t.url)  // a folder holding metadata.jsonl
    XCTAssertEqual(data.items.map(\.key), ["imgs/1.jpg", "imgs/2.png"])
    XCTAssertEqual(data.items.map(\.caption), ["first", "second line"])
    XCTAssertEqual(
      data.skipped.map(\.description),
      [
        "imgs/2.png: duplicate of line 2", "imgs/3.png: empty caption", "imgs/missing.png: caption without image",
        "imgs/3.png: duplicate of line 5", "unlisted.png: image without caption (no entry in metadata.jsonl)",
      ])
    var options = DatasetOptions()
    options.captionColumn = "alt"
    let alt = try CaptionDataset(at: t.url.appendingPathComponent("metadata.jsonl"), options: options)
    XCTAssertEqual(alt.items.map(\.caption), ["premier", "deuxième"])
  }

  func testMalformedMetadataNamesLine() throws {
    let t = try TempFolder()
    try t.image("1.jpg", from: "jpeg_noise_77x123.jpg")
    try t.text("metadata.jsonl", "{\"file_name\": \"1.jpg\", \"text\": \"ok\"}\n[1, 2]\n")
    XCTAssertThrowsError(try CaptionDataset(at: t.url)) {
      XCTAssertEqual("\($0)", t.url.appendingPathComponent("metadata.jsonl").path + ":2: not a JSON object")
    }
    try t.text("metadata.jsonl", "{\"text\": \"no file name\"}\n")
    XCTAssertThrowsError(try CaptionDataset(at: t.url)) {
      XCTAssertTrue("\($0)".hasSuffix(":1: no string \"file_name\""))
    }
  }

  func testBadInput() throws {
    let empty = try TempFolder()
    XCTAssertThrowsError(try CaptionDataset(at: empty.url)) {
      XCTAssertEqual("\($0)", "\(empty.url.path): no images found")
    }
    XCTAssertThrowsError(try CaptionDataset(at: empty.url.appendingPathComponent("nope"))) {
      XCTAssertTrue("\($0)".hasSuffix("nope: no such file or folder"))
    }

    let noCaptions = try TempFolder()
    try noCaptions.image("a.jpg", from: "jpeg_noise_77x123.jpg")
    try noCaptions.image("b.png", from: "synth_5x3.png")
    XCTAssertThrowsError(try CaptionDataset(at: noCaptions.url)) {
      let text = "\($0)"
      XCTAssertTrue(
        text.contains("no usable image/caption pair") && text.contains("b.png: image without caption"), text)
    }

    let latin1 = try TempFolder()
    try latin1.image("a.jpg", from: "jpeg_noise_77x123.jpg")
    _ = try latin1.bytes("a.txt", Array("caf".utf8) + [0xE9])
    // Skipped and listed like an unreadable image; here nothing is left.
    XCTAssertThrowsError(try CaptionDataset(at: latin1.url)) {
      let text = "\($0)"
      XCTAssertTrue(
        text.contains("a.jpg: unreadable caption (a.txt: caption is not valid UTF-8 (byte 3: 0xe9))"), text)
    }

    let broken = try TempFolder()
    try broken.image("a.jpg", from: "jpeg_noise_77x123.jpg")
    try broken.text("a.txt", "fine")
    try broken.image("b.jpg", from: "bad_truncated.jpg")
    try broken.text("b.txt", "truncated file")
    try broken.image("c.png", from: "bad_not_an_image.jpg")
    try broken.text("c.txt", "not an image")
    let data = try CaptionDataset(at: broken.url)
    XCTAssertEqual(data.items.map(\.key), ["a.jpg"])
    XCTAssertEqual(data.skipped.map(\.kind), ["unreadable", "unreadable"])
    XCTAssertEqual(data.skipped.map(\.file), ["b.jpg", "c.png"])
  }

  func testDuplicateBytesKeepFirst() throws {
    let t = try TempFolder()
    try t.image("a.png", from: "synth_5x3.png")
    try t.text("a.txt", "one")
    try t.image("b.png", from: "synth_5x3.png")
    try t.text("b.txt", "same picture")
    let data = try CaptionDataset(at: t.url)
    XCTAssertEqual(data.items.map(\.key), ["a.png"])
    XCTAssertEqual(data.skipped.map(\.description), ["b.png: duplicate of a.png"])
  }

  func testMemoryBudget() throws {
    let t = try TempFolder()
    for (i, name) in ["synth_5x3.png", "synth_1x1.png", "jpeg_noise_77x123.jpg"].enumerated() {
      try t.image("\(i).\(name.hasSuffix("jpg") ? "jpg" : "png")", from: name)
      try t.text("\(i).txt", "image \(i)")
    }
    var options = DatasetOptions()
    options.memoryBudget = 2 * ResidentImages.bytesPerImage + 100
    let data = try CaptionDataset(at: t.url, options: options)
    XCTAssertEqual((0..<3).map { data.images.isResident($0) }, [true, true, false])
    XCTAssertEqual(data.images.residentBytes, 2 * 1_769_472)
    // Beyond the budget the image is decoded on demand, to the same bytes.
    XCTAssertEqual(SHA256.hex(try data.images.image(2).pixels), try DataFixtures.resizedSHA256("jpeg_noise_77x123.jpg"))
    let stats = data.stats(tokenizer: DataFixtures.tokenizer)
    let lengths = data.items.map { DataFixtures.tokenizer.encode($0.caption).count }
    XCTAssertEqual(stats.tokenLengths, lengths)
    XCTAssertEqual(stats.minTokens, lengths.min())
    XCTAssertEqual(stats.residentImages, 2)
    XCTAssertTrue(stats.description.contains("memory: 2 of 3 images resident, 3.4 MiB"), stats.description)
  }

  func testSplitIsDeterministicAndSurvivesReload() throws {
    let t = try TempFolder()
    let sources = [
      "synth_5x3.png", "synth_1x1.png", "png_gray1.png", "synth_extremes_200x300.png", "png_gray2.png",
      "png_gray4.png", "png_gray8.png", "synth_gradient_767x769.png", "png_palette1.png", "png_palette_short.png",
    ]
    for (i, name) in sources.enumerated() {
      try t.image("img\(i).png", from: name)
      try t.text("img\(i).txt", "caption \(i)")
    }
    let data = try CaptionDataset(at: t.url)
    XCTAssertEqual(data.items.count, 10, data.skipped.description)
    try data.split(fraction: 0.3, seed: 5)
    XCTAssertEqual(data.evalIndices.count, 3)
    XCTAssertEqual(Set(data.trainIndices).union(data.evalIndices), Set(0..<10))
    let held = data.evalIndices.map { data.items[$0].key }
    let other = try CaptionDataset(at: t.url)
    try other.split(fraction: 0.3, seed: 5)
    XCTAssertEqual(other.evalIndices.map { other.items[$0].key }, held)
    try other.split(fraction: 0.3, seed: 6)
    XCTAssertNotEqual(other.evalIndices.map { other.items[$0].key }, held)  // 120 possible triples; seeds 5, 6 differ

    // Reload: a new pair appears, a caption changes; the same files stay held out, unchanged images stay resident.
    try t.image("img99.png", from: "png_gray1.png")  // same bytes as img2.png: a duplicate
    try t.text("img99.txt", "dup")
    try t.text("img0.txt", "new caption")
    try data.reload()
    XCTAssertEqual(data.evalIndices.map { data.items[$0].key }, held)
    XCTAssertEqual(data.items[0].caption, "new caption")
    XCTAssertEqual(data.skipped.map(\.description), ["img99.png: duplicate of img2.png"])
    XCTAssertThrowsError(try data.split(fraction: 1.0)) { XCTAssertTrue("\($0)".contains("must be in [0, 1)")) }
  }

  func testReloadDoesNotReadUnchangedImages() throws {
    let t = try TempFolder()
    let image = try t.image("a.png", from: "synth_5x3.png")
    try t.text("a.txt", "a")
    let data = try CaptionDataset(at: t.url)
    let before = try data.images.image(0)
    // Garbage of the same size with the old modification time: reload must keep the resident copy, not read it.
    let modified = try XCTUnwrap(
      try image.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate)
    let size = try Data(contentsOf: image).count
    try Data(repeating: 0x55, count: size).write(to: image)
    try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: image.path)
    try data.reload()
    XCTAssertEqual(data.items.count, 1)
    XCTAssertEqual(try data.images.image(0), before)
    // A changed time makes it read again, and now it is unreadable.
    try FileManager.default.setAttributes(
      [.modificationDate: modified.addingTimeInterval(10)], ofItemAtPath: image.path)
    XCTAssertThrowsError(try data.reload()) { XCTAssertTrue("\($0)".contains("a.png: unreadable image"), "\($0)") }
  }
}
