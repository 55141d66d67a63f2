<?php

declare(strict_types=1);

namespace NotifyRelay\Tests;

use NotifyRelay\Tests\Support\Stack;
use NotifyRelay\Tests\Support\Subscriber;
use PHPUnit\Framework\TestCase;

/**
 * The install of clients/php/README.md, step by step: the relay's checkout next to an app, the
 * README's path repository, `composer require`, the demo page opened with the link its first
 * script prints, and its second script publishing to that page's user.
 */
final class ComposerInstallTest extends TestCase
{
    public function test_composer_require_from_the_documented_path_repository_gives_an_app_that_publishes(): void
    {
        $composer = trim((string) shell_exec('command -v composer'));
        if ($composer === '') {
            $this->markTestSkipped('composer is not installed (test.sh installs it)');
        }
        $readme = (string) file_get_contents(dirname(__DIR__) . '/README.md');
        preg_match('/```json\n(.*?)```/s', $readme, $json);
        preg_match('/^(composer require \S+)$/m', $readme, $command);
        preg_match_all('/<!-- example: plain -->\n```php\n(?:<\?php)?(.*?)```/s', $readme, $scripts);
        $this->assertCount(2, $json, 'the README shows the repository to add');
        $this->assertCount(2, $command, 'the README shows the composer require command');

        $root = sys_get_temp_dir() . '/notify-composer-' . bin2hex(random_bytes(4));
        mkdir("$root/app", 0777, true);
        symlink(dirname(__DIR__, 3), "$root/notify-relay");
        // The README's repositories, and Packagist off: the test machine has no access to it.
        $config = json_decode('{' . $json[1] . '}', true, flags: JSON_THROW_ON_ERROR);
        $config['repositories'][] = ['packagist.org' => false];
        file_put_contents("$root/app/composer.json", json_encode($config, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES));
        try {
            exec(sprintf('cd %s && COMPOSER_HOME=%s %s --no-interaction 2>&1',
                escapeshellarg("$root/app"), escapeshellarg("$root/.composer"), $command[1]), $out, $status);
            $this->assertSame(0, $status, implode("\n", $out));

            $stack = Stack::shared();
            [$link] = $this->runInApp("$root/app", $scripts[1][0], $stack);
            $this->assertMatchesRegularExpression('{^http://127\.0\.0\.1:8080/\?token=[\w.-]+$}', $link);
            $page = new Subscriber($stack, 42, token: substr($link, strpos($link, '=') + 1));
            [$stored] = $this->runInApp("$root/app", $scripts[1][1], $stack);
            $this->assertStringStartsWith('stored as ', $stored);
            $this->assertSame(['/uploads/abc.jpg'], array_map(fn ($e) => $e['data']['img_url'], $page->next()));
        } finally {
            exec('rm -rf ' . escapeshellarg($root));
        }
    }

    /** @return list<string> what the script printed, line by line */
    private function runInApp(string $dir, string $code, Stack $stack): array
    {
        file_put_contents("$dir/script.php", "<?php\n$code");
        exec(sprintf('cd %s && NOTIFY_URL=%s NOTIFY_PUBLISH_KEY=%s NOTIFY_JWT_SECRET=%s %s script.php 2>&1',
            escapeshellarg($dir), escapeshellarg($stack->url()), escapeshellarg(Stack::PUBLISH_KEY),
            escapeshellarg(Stack::JWT_SECRET), escapeshellarg(PHP_BINARY)), $out, $status);
        $this->assertSame(0, $status, implode("\n", $out));
        return $out;
    }
}
