using System.Text.Json.Nodes;
using SkiaSharp;

namespace Kernels.Tests.Data;

/// <summary>Writes a tiny COCO-style folder for tests: annotations/instances_train2017.json and
/// instances_val2017.json, images in train2017/ and val2017/ (PNG and JPEG of different sizes,
/// drawn with SkiaSharp). Category ids are out of order with gaps (7 square, 2 disc, 11 bar), so
/// the classes are 0 disc, 1 square, 2 bar.</summary>
internal static class CocoFixture
{
    public static readonly (long Id, string Name)[] Categories = [(7, "square"), (2, "disc"), (11, "bar")];

    /// <summary>Train images: file, width, height, category ids (the third has none).</summary>
    public static readonly (string File, int W, int H, long[] Cats)[] TrainImages =
    [
        ("000001.png", 48, 32, [2]),
        ("000002.jpg", 40, 40, [7, 11]),
        ("000003.png", 32, 48, []),
        ("000004.png", 36, 36, [2, 7, 11]),
        ("000005.jpg", 64, 40, [11]),
    ];

    public static readonly (string File, int W, int H, long[] Cats)[] ValImages =
    [
        ("100001.png", 40, 30, [7]),
        ("100002.png", 30, 40, [2, 11]),
        ("100003.jpg", 44, 44, [2]),
    ];

    /// <summary>Writes the folder under <paramref name="root"/>; <paramref name="editTrain"/> may
    /// change the train JSON before it is written.</summary>
    public static string Write(string root, Action<JsonObject>? editTrain = null)
    {
        WriteSplit(root, "train2017", TrainImages, 1, editTrain);
        WriteSplit(root, "val2017", ValImages, 1000, null);
        return root;
    }

    private static void WriteSplit(string root, string name, (string File, int W, int H, long[] Cats)[] images, long firstAnnId, Action<JsonObject>? edit)
    {
        var folder = Directory.CreateDirectory(Path.Combine(root, name)).FullName;
        Directory.CreateDirectory(Path.Combine(root, "annotations"));
        var imgs = new JsonArray();
        var anns = new JsonArray();
        long annId = firstAnnId;
        for (int i = 0; i < images.Length; i++)
        {
            var (file, w, h, cats) = images[i];
            long id = 10 + i * 3 + (name.StartsWith("val") ? 500 : 0);
            imgs.Add(new JsonObject { ["id"] = id, ["file_name"] = file, ["width"] = w, ["height"] = h, ["license"] = 1 });
            foreach (long c in cats)
                anns.Add(new JsonObject
                {
                    ["id"] = annId++, ["image_id"] = id, ["category_id"] = c, ["iscrowd"] = 0,
                    ["bbox"] = new JsonArray(1.0, 2.0, 3.0, 4.0), ["area"] = 12.0,
                    ["segmentation"] = new JsonArray(new JsonArray(1.0, 2.0, 3.0, 4.0, 5.0, 6.0)),
                });
            Draw(Path.Combine(folder, file), w, h, cats, i);
        }
        var cat = new JsonArray();
        foreach (var (cid, cname) in Categories) cat.Add(new JsonObject { ["id"] = cid, ["name"] = cname, ["supercategory"] = "shape" });
        var doc = new JsonObject
        {
            ["info"] = new JsonObject { ["description"] = "test fixture" },
            ["images"] = imgs, ["annotations"] = anns, ["categories"] = cat,
        };
        edit?.Invoke(doc);
        File.WriteAllText(Path.Combine(root, "annotations", $"instances_{name}.json"), doc.ToJsonString());
    }

    private static void Draw(string path, int w, int h, long[] cats, int seed)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(new SKColor((byte)(90 + 10 * seed), 100, 110));
            using var paint = new SKPaint { IsAntialias = true };
            foreach (long c in cats)
            {
                switch (c)
                {
                    case 2:
                        paint.Color = SKColors.Red;
                        canvas.DrawCircle(w * 0.3f, h * 0.3f, Math.Min(w, h) * 0.2f, paint);
                        break;
                    case 7:
                        paint.Color = SKColors.Lime;
                        canvas.DrawRect(w * 0.55f, h * 0.1f, w * 0.35f, h * 0.35f, paint);
                        break;
                    default:
                        paint.Color = SKColors.Blue;
                        canvas.DrawRect(w * 0.1f, h * 0.7f, w * 0.8f, h * 0.15f, paint);
                        break;
                }
            }
        }
        var format = path.EndsWith(".jpg", StringComparison.Ordinal) ? SKEncodedImageFormat.Jpeg : SKEncodedImageFormat.Png;
        using var data = bitmap.Encode(format, 90);
        using var stream = File.Create(path);
        data.SaveTo(stream);
    }
}
