<?php

declare(strict_types=1);

namespace NotifyRelay\Symfony;

use NotifyRelay\Client;
use Symfony\Component\Notifier\Exception\IncompleteDsnException;
use Symfony\Component\Notifier\Exception\UnsupportedSchemeException;
use Symfony\Component\Notifier\Transport\Dsn;
use Symfony\Component\Notifier\Transport\TransportFactoryInterface;
use Symfony\Component\Notifier\Transport\TransportInterface;
use Symfony\Contracts\EventDispatcher\EventDispatcherInterface;

/**
 * Makes NotifyRelayTransport from `notify-relay://PUBLISH_KEY@host:port` (plain HTTP, for a
 * relay on the internal network) or `notify-relays://PUBLISH_KEY@host` (HTTPS). Query options
 * are Client options: `?timeout=3&retries=1`.
 */
final class NotifyRelayTransportFactory implements TransportFactoryInterface
{
    public function __construct(private readonly ?EventDispatcherInterface $dispatcher = null)
    {
    }

    public function create(Dsn $dsn): TransportInterface
    {
        if (!$this->supports($dsn)) {
            throw new UnsupportedSchemeException($dsn, 'notify-relay', ['notify-relay', 'notify-relays']);
        }
        $key = $dsn->getUser();
        if ($key === null || $key === '') {
            throw new IncompleteDsnException('the publish key goes in the DSN\'s user: notify-relay://KEY@host:port', $dsn->getOriginalDsn());
        }
        $https = $dsn->getScheme() === 'notify-relays';
        $port = $dsn->getPort();
        $endpoint = $dsn->getHost() . ($port !== null ? ":$port" : '');
        $options = [];
        foreach ($dsn->getOptions() as $name => $value) {
            $options[$name] = $name === 'user_agent' ? (string) $value : (float) $value;
        }
        if (isset($options['retries'])) {
            $options['retries'] = (int) $options['retries'];
        }
        $client = new Client(($https ? 'https://' : 'http://') . $endpoint, $key, $options);
        return new NotifyRelayTransport($client, $endpoint, $this->dispatcher);
    }

    public function supports(Dsn $dsn): bool
    {
        return in_array($dsn->getScheme(), ['notify-relay', 'notify-relays'], true);
    }
}
