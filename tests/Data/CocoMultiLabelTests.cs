using Kernels.Tests.Support;
using System.Text.Json.Nodes;
using Kernels.Nets;
using Kernels.Nets.Data;

namespace Kernels.Tests.Data;

public class CocoMultiLabelTests : TempDirTest
{
    private static float[] Expected((string File, int W, int H, long[] Cats)[] images)
    {
        // Classes sorted by category id: 2 disc → 0, 7 square → 1, 11 bar → 2.
        var map = new Dictionary<long, int> { [2] = 0, [7] = 1, [11] = 2 };
        var t = new float[images.Length * 3];
        for (int i = 0; i < images.Length; i++)
            foreach (long c in images[i].Cats) t[i * 3 + map[c]] = 1;
        return t;
    }

    [Test]
    public void CategoriesBecomeSortedClassesAndTargetsAreMultiHot()
    {
        CocoFixture.Write(Dir);
        var data = CocoMultiLabel.Load(Dir, 32);
        Assert.That(data.ClassNames, Is.EqualTo(new[] { "disc", "square", "bar" }));
        Assert.That(data.CategoryIds, Is.EqualTo(new long[] { 2, 7, 11 }));
        Assert.That(data.Train.Count, Is.EqualTo(5));
        Assert.That(data.Train.Targets, Is.EqualTo(Expected(CocoFixture.TrainImages)));
        Assert.That(data.Train.Targets.AsSpan(2 * 3, 3).ToArray(), Is.All.EqualTo(0f), "image without annotations kept, all negative");
        Assert.That(data.ValidationCount, Is.EqualTo(3));
        Assert.That(data.ValidationTargets(chunk: 2), Is.EqualTo(Expected(CocoFixture.ValImages)));
    }

    [Test]
    public void BatchesAreSquishedDecodedImages()
    {
        CocoFixture.Write(Dir);
        var data = CocoMultiLabel.Load(Dir, 32);
        var v = data.ValidationBatch(1, 2);
        Assert.That(v.Count, Is.EqualTo(2));
        Assert.That(v.Images, Has.Length.EqualTo(2 * 3 * 32 * 32));
        Assert.That(v.Images, Is.All.InRange(0f, 1f));
        // Both 100002 (30×40) and 100003 (44×44, JPEG) have a red disc in the upper-left quarter:
        // red there after squishing.
        int plane = 32 * 32;
        foreach (int at in new[] { 9 * 32 + 9, 3 * plane + 9 * 32 + 9 })
        {
            Assert.That(v.Images[at], Is.GreaterThan(0.9f), "red channel at the disc");
            Assert.That(v.Images[at + plane], Is.LessThan(0.1f), "green channel at the disc");
        }
        var fresh = Kernels.Nets.Imaging.ImageFile.LoadSquished(Path.Combine(Dir, "val2017", "100002.png"), 32);
        Assert.That(v.Images.AsSpan(0, 3 * plane).ToArray(), Is.EqualTo(fresh));
        Assert.That(data.ValidationBatch(1, 2).Images, Is.EqualTo(v.Images), "again, from the cache");
        Assert.Throws<ArgumentOutOfRangeException>(() => data.ValidationBatch(2, 2));
    }

    [Test]
    public void TrainBatchesFollowTheSeedAndAugment()
    {
        CocoFixture.Write(Dir);
        var plain = CocoMultiLabel.Load(Dir, 32, cacheBytes: 0);
        var aug = CocoMultiLabel.Load(Dir, 32, AugmentationOptions.Recipe);
        Assert.That(plain.CacheImages, Is.Zero);
        var a = aug.TrainBatch(6, new Rng(3));
        var b = aug.TrainBatch(6, new Rng(3));
        var p = plain.TrainBatch(6, new Rng(3));
        Assert.That(b.Images, Is.EqualTo(a.Images), "same seed, same augmented batch");
        Assert.That(b.Targets, Is.EqualTo(a.Targets));
        Assert.That(p.Targets, Is.EqualTo(a.Targets), "augmentation draws after the picks");
        Assert.That(p.Images, Is.Not.EqualTo(a.Images), "augmentation changed the images");
        Assert.That(a.Images, Is.All.InRange(0f, 1f));
        Assert.That(aug.TrainBatch(6, new Rng(4)).Images, Is.Not.EqualTo(a.Images));
    }

    [Test]
    public void ValidationLimitTakesTheFirstImages()
    {
        CocoFixture.Write(Dir);
        var data = CocoMultiLabel.Load(Dir, 16, validationLimit: 2);
        Assert.That(data.ValidationCount, Is.EqualTo(2));
        Assert.That(data.ValidationTargets(), Is.EqualTo(Expected(CocoFixture.ValImages)[..6]));
    }

    [Test]
    public void UnknownCategoryIsNamed()
    {
        CocoFixture.Write(Dir, doc => doc["annotations"]!.AsArray()[1]!["category_id"] = 99);
        var e = Assert.Throws<InvalidDataException>(() => CocoMultiLabel.Load(Dir, 16))!;
        Assert.That(e.Message, Does.Contain("instances_train2017.json").And.Contain("category_id 99"));
    }

    [Test]
    public void UnknownImageIdIsNamed()
    {
        CocoFixture.Write(Dir, doc => doc["annotations"]!.AsArray()[0]!["image_id"] = 4242);
        var e = Assert.Throws<InvalidDataException>(() => CocoMultiLabel.Load(Dir, 16))!;
        Assert.That(e.Message, Does.Contain("image_id 4242"));
    }

    [Test]
    public void MissingImageIsNamed()
    {
        CocoFixture.Write(Dir);
        File.Delete(Path.Combine(Dir, "train2017", "000004.png"));
        var e = Assert.Throws<FileNotFoundException>(() => CocoMultiLabel.Load(Dir, 16))!;
        Assert.That(e.Message, Does.Contain("000004.png").And.Contain("1 of 5 images are missing"));
    }

    [Test]
    public void MalformedJsonIsNamedWithItsPosition()
    {
        CocoFixture.Write(Dir);
        var path = Path.Combine(Dir, "annotations", "instances_val2017.json");
        var text = File.ReadAllText(path);
        File.WriteAllText(path, text[..(text.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => CocoMultiLabel.Load(Dir, 16))!;
        Assert.That(e.Message, Does.Contain("instances_val2017.json").And.Contain("malformed").And.Contain("line 1"));
    }

    [Test]
    public void MissingFieldIsNamed()
    {
        CocoFixture.Write(Dir, doc => doc["images"]!.AsArray()[2]!.AsObject().Remove("file_name"));
        var e = Assert.Throws<InvalidDataException>(() => CocoMultiLabel.Load(Dir, 16))!;
        Assert.That(e.Message, Does.Contain("instances_train2017.json").And.Contain("file_name"));
    }

    [Test]
    public void DuplicateIdsAndDifferentCategoriesAreRefused()
    {
        CocoFixture.Write(Dir, doc => doc["categories"]!.AsArray().Add(new JsonObject { ["id"] = 7, ["name"] = "cube" }));
        var e = Assert.Throws<InvalidDataException>(() => CocoMultiLabel.Load(Dir, 16))!;
        Assert.That(e.Message, Does.Contain("category id 7 appears twice"));

        Directory.Delete(Dir, true);
        Directory.CreateDirectory(Dir);
        CocoFixture.Write(Dir, doc => doc["categories"]!.AsArray()[0]!["name"] = "box");
        e = Assert.Throws<InvalidDataException>(() => CocoMultiLabel.Load(Dir, 16))!;
        Assert.That(e.Message, Does.Contain("categories differ"));
    }

    [Test]
    public void LayoutErrorsAreNamed()
    {
        Assert.Throws<DirectoryNotFoundException>(() => CocoMultiLabel.Load(Path.Combine(Dir, "none"), 16));
        var e1 = Assert.Throws<DirectoryNotFoundException>(() => CocoMultiLabel.Load(Dir, 16))!;
        Assert.That(e1.Message, Does.Contain("annotations/"));
        CocoFixture.Write(Dir);
        File.Copy(Path.Combine(Dir, "annotations", "instances_train2017.json"), Path.Combine(Dir, "annotations", "instances_train2014.json"));
        var e2 = Assert.Throws<InvalidDataException>(() => CocoMultiLabel.Load(Dir, 16))!;
        Assert.That(e2.Message, Does.Contain("several instances_train*.json"));
        File.Delete(Path.Combine(Dir, "annotations", "instances_train2014.json"));
        Directory.Delete(Path.Combine(Dir, "val2017"), true);
        var e3 = Assert.Throws<DirectoryNotFoundException>(() => CocoMultiLabel.Load(Dir, 16))!;
        Assert.That(e3.Message, Does.Contain("val2017"));
    }
}
